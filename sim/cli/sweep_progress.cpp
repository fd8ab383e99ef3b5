#include "sweep_progress.hpp"

#include <fmt/format.h>

#include <cstdio>

namespace comet {

SweepProgress::SweepProgress(int total_points, bool terminal)
    : total_(total_points), terminal_(terminal), start_(std::chrono::steady_clock::now()) {}

double SweepProgress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void SweepProgress::started() {
  ++running_;
  if (terminal_) draw();
}

void SweepProgress::finished(int point, const std::string& what, const std::string& summary) {
  --running_;
  ++done_;
  if (terminal_) {
    draw();
    return;
  }
  fmt::print(stderr, "comet sweep: point {} done ({}/{}): {}: {} [{:.1f} s]\n", point, done_, total_, what, summary,
             elapsed_s());
  std::fflush(stderr);
}

void SweepProgress::draw() const {
  constexpr int WIDTH = 30;
  const int filled = total_ > 0 ? done_ * WIDTH / total_ : WIDTH;
  const double elapsed = elapsed_s();
  const std::string eta =
      done_ > 0 && done_ < total_ ? fmt::format(", ~{:.0f} s left", elapsed / done_ * (total_ - done_)) : "";
  fmt::print(stderr, "\r\033[K[{}{}] {}/{} points, {} running, {:.1f} s{}", std::string(filled, '#'),
             std::string(WIDTH - filled, '.'), done_, total_, running_, elapsed, eta);
  std::fflush(stderr);
}

void SweepProgress::close() {
  if (terminal_ && !closed_) fmt::print(stderr, "\n");
  closed_ = true;
}

}  // namespace comet
