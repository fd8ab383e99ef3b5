// Runs the `comet` binary under test (COMET_BINARY) and captures how it ended: shared by the CLI
// tests and the GPU CLI tests.
#pragma once

#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <string>

namespace comet::testing {

struct CometRun {
  int exit_code = -1;
  bool crashed = false;  ///< killed by a signal (or a shell-reported signal exit)
  std::string output;    ///< stdout, with stderr too when merged
  double seconds = 0.0;
};

/// Runs a shell command line; stderr joins the output when `merge_stderr`, else it is discarded.
inline CometRun run_command(const std::string& command_line, bool merge_stderr = true) {
  const std::string command = command_line + (merge_stderr ? " 2>&1" : " 2>/dev/null");
  const auto start = std::chrono::steady_clock::now();
  CometRun run;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return run;
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe)) run.output += buffer.data();
  const int status = ::pclose(pipe);
  run.crashed = WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) >= 128);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

/// `comet ARGUMENTS`; stderr joins the output when `merge_stderr`, else it is discarded. With
/// `timeout_s` > 0 it runs under timeout(1), so a hang fails the test instead of holding it.
inline CometRun run_comet(const std::string& arguments, bool merge_stderr = true, int timeout_s = 0) {
  const std::string prefix = timeout_s > 0 ? "timeout -k 5 " + std::to_string(timeout_s) + " " : "";
  return run_command(prefix + COMET_BINARY + " " + arguments, merge_stderr);
}

/// The Open MPI launcher line for `processes` processes on this machine, as CI's root user too.
inline std::string mpirun(int processes) {
  return "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout -k 5 120 mpirun --oversubscribe -np " +
         std::to_string(processes) + " ";
}

}  // namespace comet::testing
