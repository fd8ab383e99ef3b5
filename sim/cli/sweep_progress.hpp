// Progress of `comet sweep` on stderr: a bar redrawn in place when stderr is a terminal, one
// plain line per finished point otherwise (logs, CI, pipes).
#pragma once

#include <chrono>
#include <string>

namespace comet {

class SweepProgress {
 public:
  SweepProgress(int total_points, bool terminal);
  void started();
  /// `what`: the point's settings; `summary`: its headline figure.
  void finished(int point, const std::string& what, const std::string& summary);
  /// Ends the bar's line (terminal) before other messages.
  void close();

 private:
  void draw() const;
  double elapsed_s() const;

  int total_, running_ = 0, done_ = 0;
  bool terminal_, closed_ = false;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace comet
