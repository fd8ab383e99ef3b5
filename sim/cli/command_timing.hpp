// Times a whole comet command as a user runs it: this executable started again with the given
// arguments (output discarded), wall time from fork to exit, the process's own peak RSS.
// `comet bench --sections commands` prints the issue targets with it.
#pragma once

#include <string>
#include <vector>

namespace comet {

struct CommandTiming {
  double wall_s = 0.0;
  double peak_rss_MiB = 0.0;  ///< the command's own process (its SimGrid children are not counted)
  int exit_code = 0;          ///< -1 when stopped at the time limit or killed by a signal
};

/// Runs `/proc/self/exe args...` to completion or `timeout_s` (then SIGKILL, exit_code -1).
CommandTiming time_command(const std::vector<std::string>& args, double timeout_s);

}  // namespace comet
