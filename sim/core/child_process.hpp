// Runs work in a forked child process and brings its result back through a pipe: for SimGrid
// (one engine per process, and models that abort) and for benchmarks (each case's peak RSS).
// spawn_child_process() + finish_child_process() are the two halves, for callers that run
// several children at once (child_pool.hpp).
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

/// A child that runs: its process id and the read end of the pipe its output comes through.
struct RunningChild {
  int pid = -1;
  int output_fd = -1;
};

/// Forks a child that runs `work`, writes its result (or what it threw) to the pipe and exits.
/// With `own_process_group`, the child leads a new process group, so that killing the group
/// also stops the children it forks itself (SimGrid engines), takes back the default SIGINT and
/// SIGTERM handling, and is sent SIGTERM if the parent dies.
RunningChild spawn_child_process(const std::function<std::string()>& work, bool own_process_group = false);

/// Reads the rest of the child's output (appended to `output_so_far`), waits for it to end.
ChildOutcome finish_child_process(const RunningChild& child, std::string output_so_far = {});

}  // namespace comet
