// The `flow` engine's network: flows over routes of links, sharing each link's capacity max-min
// fairly with equal weights (progressive filling), advanced between events in simulated time.
// What SimGrid's CM02 model computes for the flow platform (links without latency, no cross
// traffic), written for this one case: SimGrid 3.32 re-solves its general sharing system at every
// flow completion, and a ragged all-to-all ends its flows one by one (docs/engines.md: the default
// 1024-GPU scenario ran past 300 s there).
//
// Two things make it fast:
// - Progressive filling over flat arrays: a heap of links by fair share, each flow frozen once, so
//   one solve costs O(R log R) for R (flow, link) pairs.
// - Completions within a window share one solve: when flows end at time t, every flow that would
//   end before t + window x (its age) ends with them. A flow thus ends at most `window` of its
//   duration early, and no other flow's rate changes earlier than that. With window 0 every
//   completion is its own event (the exact model).
//
// Time comes from the caller: `now()` and `at(time, callback)` (SimGrid's clock and timers in the
// engine; a test's own event loop elsewhere). Callbacks run from timers set by this class.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <utility>
#include <vector>

namespace comet {

class FluidNetwork {
 public:
  using Clock = std::function<double()>;
  using SetTimer = std::function<void(double time_s, std::function<void()> callback)>;

  /// `capacity_Bps[link]`: bytes per second each link carries (> 0). `completion_window`: see above
  /// (0 exact; the engine uses DEFAULT_WINDOW).
  FluidNetwork(std::vector<double> capacity_Bps, double completion_window, Clock now, SetTimer at);

  /// Starts a flow of `bytes` (>= 0) over the links `route` (at most MAX_ROUTE) now; `done` runs
  /// once it has moved them, from a timer.
  void start(std::span<const int> route, double bytes, std::function<void()> done);
  /// The link's capacity from now on.
  void set_capacity(int link, double Bps);
  double capacity(int link) const { return capacity_Bps_[static_cast<std::size_t>(link)]; }
  /// Rate-solves run so far (each costs O(R log R), R = (flow, link) pairs then active).
  std::uint64_t solves() const { return solves_; }

  /// The engine's window: flows end at most 1e-3 of their age early.
  static constexpr double DEFAULT_WINDOW = 1e-3;

  /// Longest route a flow may take (links); a fat-tree's longest path with both nodes' fabric hops is 10.
  static constexpr int MAX_ROUTE = 14;

 private:
  // A flow's route is copied in: the solve walks every active flow's links, and contiguous
  // copies read ~2x faster than routes scattered over the caller's heap. Callbacks live apart
  // (flows_ and done_ are swapped and popped together).
  struct Flow {
    std::array<int, MAX_ROUTE> link;
    int hops = 0;
    double remaining = 0.0;  // bytes
    double rate = 0.0;       // bytes per second since the last solve
    double start_s = 0.0;
    std::span<const int> route() const { return {link.data(), static_cast<std::size_t>(hops)}; }
  };
  /// Moves every flow on by rate x (time - last update).
  void advance();
  /// The network changed now: rates are re-solved once the current instant's changes are in.
  void changed();
  void solve();
  /// Ends the flows due by now (within the window), runs their callbacks, re-solves.
  void complete(std::uint64_t version);

  std::vector<double> capacity_Bps_;
  double window_;
  Clock now_;
  SetTimer at_;
  std::vector<Flow> flows_;  // active flows, in no order
  std::vector<std::function<void()>> done_;  // per active flow
  double updated_s_ = 0.0;
  bool solve_pending_ = false;
  std::uint64_t version_ = 0;  // of the armed completion timer; older ones are stale
  std::uint64_t solves_ = 0;
  // Scratch of solve(), per link.
  std::vector<double> residual_;
  std::vector<int> unfrozen_;
  std::vector<int> on_link_start_, on_link_end_, on_link_;  // flows per link: on_link_[start, end)
  std::vector<int> touched_;                                  // links with flows
  std::vector<std::pair<double, int>> heap_;                  // (fair share when pushed, link)
  std::vector<char> frozen_;                                  // per flow
};

}  // namespace comet
