#include "group_routes.hpp"

#include <fmt/format.h>

#include <limits>
#include <map>
#include <mutex>
#include <stdexcept>

#include "topology.hpp"

namespace comet {

GroupRoutes::GroupRoutes(const Topology& topology, int first_gpu, int size) : first_(first_gpu), size_(size) {
  if (size < 1 || first_gpu < 0 || first_gpu + size > topology.num_gpus())
    throw std::invalid_argument(fmt::format("GroupRoutes: GPUs [{}, {}) outside a {}-GPU topology", first_gpu,
                                            first_gpu + size, topology.num_gpus()));
  const std::size_t pairs = static_cast<std::size_t>(size) * static_cast<std::size_t>(size);
  start_.reserve(pairs + 1);
  start_.push_back(0);
  links_.reserve(pairs * 6);  // a route between nodes is about six links
  for (int src = first_gpu; src < first_gpu + size; ++src)
    for (int dst = first_gpu; dst < first_gpu + size; ++dst) {
      topology.append_route(src, dst, links_);
      if (links_.size() > std::numeric_limits<std::uint32_t>::max())
        throw std::length_error(fmt::format("GroupRoutes: the routes of a {}-GPU group exceed 2^32 links", size));
      start_.push_back(static_cast<std::uint32_t>(links_.size()));
    }
  links_.shrink_to_fit();
}

struct GroupRouteCache::Sized {
  std::vector<std::once_flag> built;
  std::vector<std::unique_ptr<GroupRoutes>> groups;
  explicit Sized(int count) : built(static_cast<std::size_t>(count)), groups(static_cast<std::size_t>(count)) {}
};

struct GroupRouteCache::State {
  std::mutex mutex;
  std::map<int, std::shared_ptr<Sized>> by_size;
};

std::shared_ptr<GroupRouteCache::State> GroupRouteCache::make_state() { return std::make_shared<State>(); }

std::shared_ptr<GroupRouteCache::Sized> GroupRouteCache::sized(int group_size, int num_gpus) {
  const std::lock_guard lock(state_->mutex);
  std::shared_ptr<Sized>& entry = state_->by_size[group_size];
  if (!entry) entry = std::make_shared<Sized>(num_gpus / group_size);
  return entry;
}

const GroupRoutes& GroupRouteCache::get(const Topology& topology, int group_size, int group) {
  if (group_size < 1 || topology.num_gpus() % group_size != 0 || group < 0 || group >= topology.num_gpus() / group_size)
    throw std::invalid_argument(
        fmt::format("group {} of {} GPUs: not a group of a {}-GPU topology", group, group_size, topology.num_gpus()));
  const std::shared_ptr<Sized> cache = sized(group_size, topology.num_gpus());
  const auto g = static_cast<std::size_t>(group);
  std::call_once(cache->built[g], [&] { cache->groups[g] = std::make_unique<GroupRoutes>(topology, group * group_size, group_size); });
  return *cache->groups[g];
}

}  // namespace comet
