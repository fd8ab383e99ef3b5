// Runs work in a forked child process and brings its result back through a pipe: for SimGrid
// (one engine per process, and models that abort) and for benchmarks (each case's peak RSS).
#pragma once

#include <functional>
#include <string>

namespace comet {

struct ChildOutcome {
  std::string output;         ///< what `work` returned, or the message of what it threw
  bool failed = false;        ///< `work` threw or the child could not send its output
  int signal = 0;             ///< the signal that ended the child, 0 when it exited
  double peak_rss_MiB = 0.0;  ///< the child's peak resident memory
};

/// Forks; the child runs `work` and exits. Output buffers are flushed before forking, or the
/// child's copy of unwritten output would be written twice.
ChildOutcome run_in_child_process(const std::function<std::string()>& work);

}  // namespace comet
