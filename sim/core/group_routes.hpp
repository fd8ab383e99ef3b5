// Every route inside one expert-parallel group (a run of `size` consecutive GPUs), walked once per
// topology and shared by every Plan simulated on it. A group's all-to-alls only ever move bytes
// between its own GPUs, and every chunk, phase and direction of them (and every candidate chunking
// `dynamic` prices) crosses the same routes: walking them per matrix was a fifth of `compare`.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace comet {

class Topology;

class GroupRoutes {
 public:
  /// Walks the route of every ordered pair of GPUs in [first_gpu, first_gpu + size).
  GroupRoutes(const Topology& topology, int first_gpu, int size);

  /// The directed links from `src` to `dst`, in order (none when src == dst). Both must be in the
  /// group (checked by the caller: this is the simulator's innermost loop).
  std::span<const int> links(int src, int dst) const {
    const std::size_t i = static_cast<std::size_t>(src - first_) * static_cast<std::size_t>(size_) +
                          static_cast<std::size_t>(dst - first_);
    return {links_.data() + start_[i], start_[i + 1] - start_[i]};
  }
  bool contains(int gpu) const { return gpu >= first_ && gpu < first_ + size_; }

 private:
  int first_;
  int size_;
  std::vector<int> links_;             // every route, (src, dst) in row-major order
  std::vector<std::uint32_t> start_;  // pair i's links: [start_[i], start_[i + 1])
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
