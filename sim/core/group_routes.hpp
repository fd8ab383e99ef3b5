// Every route inside one expert-parallel group (a run of `size` consecutive GPUs), walked once per
// topology and shared by every Plan simulated on it. A group's all-to-alls only ever move bytes
// between its own GPUs, and every chunk, phase and direction of them (and every candidate chunking
// `dynamic` prices) crosses the same routes: walking them per matrix was a fifth of `compare`.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

namespace comet {

class Topology;

class GroupRoutes {
 public:
  /// Walks the route of every ordered pair of GPUs in [first_gpu, first_gpu + size).
  GroupRoutes(const Topology& topology, int first_gpu, int size);

  /// The directed links from `src` to `dst`, in route order (none when src == dst), less the twin
  /// links. Links are twins when exactly the same pairs of this group cross them (a GPU's link to
  /// its NIC and the NIC's link to its leaf, when the NIC serves one GPU): whatever a group's
  /// all-to-all moves, they carry the same bytes in the same order, so one of them, the
  /// representative (the lowest id), stands for all (twins()). Both GPUs must be in the group
  /// (checked by the caller: this is the simulator's innermost loop).
  std::span<const int> distinct_links(int src, int dst) const {
    const std::size_t i = pair(src, dst);
    return {distinct_.data() + distinct_start_[i], distinct_start_[i + 1] - distinct_start_[i]};
  }
  /// The route's latency, seconds: its links' latencies added in route order.
  double latency_s(int src, int dst) const { return latency_s_[pair(src, dst)]; }
  /// (twin, representative) for every link that distinct_links() leaves out.
  const std::vector<std::pair<int, int>>& twins() const { return twins_; }
  bool contains(int gpu) const { return gpu >= first_ && gpu < first_ + size_; }

 private:
  std::size_t pair(int src, int dst) const {
    return static_cast<std::size_t>(src - first_) * static_cast<std::size_t>(size_) + static_cast<std::size_t>(dst - first_);
  }
  struct LinkPairs {
    std::vector<std::uint32_t> count, first, last;  // per link: pairs crossing it, the first and the last
  };
  /// Keeps the routes less their twins (`links`, `start`: every route, pair by pair).
  void keep_distinct(std::vector<int> links, const std::vector<std::uint32_t>& start, const LinkPairs& crossing);

  int first_;
  int size_;
  std::vector<int> distinct_;                  // every route less its twins, (src, dst) in row-major order
  std::vector<std::uint32_t> distinct_start_;  // pair i's links: [distinct_start_[i], distinct_start_[i + 1])
  std::vector<double> latency_s_;      // per pair
  std::vector<std::pair<int, int>> twins_;
};

/// Topology's cache of GroupRoutes, per group size and group, each built on first use (by
/// whichever thread asks first; the others wait for it). Shared by copies of a Topology.
class GroupRouteCache {
 public:
  const GroupRoutes& get(const Topology& topology, int group_size, int group);

 private:
  struct Sized;
  std::shared_ptr<Sized> sized(int group_size, int num_gpus);
  struct State;
  std::shared_ptr<State> state_ = make_state();
  static std::shared_ptr<State> make_state();
};

}  // namespace comet
