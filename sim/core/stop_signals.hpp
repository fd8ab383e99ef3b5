// Ctrl-C for long runs (`comet sweep`): while a StopSignals object lives, SIGINT and SIGTERM
// only set a flag that the run polls, so it can stop its children and keep what is finished.
// Without it the default action would kill the process between writes.
#pragma once

namespace comet {

class StopSignals {
 public:
  StopSignals();   ///< installs the handlers (no SA_RESTART: a blocking call returns EINTR)
  ~StopSignals();  ///< restores the previous handlers
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  /// Whether a stop signal arrived since construction.
  static bool requested();
  /// The first stop signal received, 0 when none.
  static int signal_number();
};

}  // namespace comet
