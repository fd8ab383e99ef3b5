#include "group_routes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>
#include <stdexcept>

#include "topology.hpp"

namespace comet {

GroupRoutes::GroupRoutes(const Topology& topology, int first_gpu, int size) : first_(first_gpu), size_(size) {
  if (size < 1 || first_gpu < 0 || first_gpu + size > topology.num_gpus())
    throw std::invalid_argument(fmt::format("GroupRoutes: GPUs [{}, {}) outside a {}-GPU topology", first_gpu,
                                            first_gpu + size, topology.num_gpus()));
  const std::size_t pairs = static_cast<std::size_t>(size) * static_cast<std::size_t>(size);
  const auto links = static_cast<std::size_t>(topology.num_directed_links());
  std::vector<double> link_latency_s(links);
  for (std::size_t id = 0; id < links; ++id) link_latency_s[id] = topology.link(static_cast<int>(id)).latency_s;
  // Every route, pair by pair (kept only while the twins are found: the footprints walk the distinct ones).
  std::vector<int> route_links;
  std::vector<std::uint32_t> start;
  start.reserve(pairs + 1);
  start.push_back(0);
  route_links.reserve(pairs * 6);  // a route between nodes is about six links
  latency_s_.reserve(pairs);
  // Per link: how many pairs cross it, the first and the last (for keep_distinct).
  LinkPairs crossing{std::vector<std::uint32_t>(links, 0), std::vector<std::uint32_t>(links, 0), std::vector<std::uint32_t>(links, 0)};
  for (int src = first_gpu; src < first_gpu + size; ++src)
    for (int dst = first_gpu; dst < first_gpu + size; ++dst) {
      const std::size_t begin = route_links.size();
      topology.append_route(src, dst, route_links);
      if (route_links.size() > std::numeric_limits<std::uint32_t>::max())
        throw std::length_error(fmt::format("GroupRoutes: the routes of a {}-GPU group exceed 2^32 links", size));
      const auto pair = static_cast<std::uint32_t>(start.size() - 1);
      double latency = 0.0;
      for (std::size_t k = begin; k < route_links.size(); ++k) {
        const auto link = static_cast<std::size_t>(route_links[k]);
        latency += link_latency_s[link];
        if (crossing.count[link]++ == 0) crossing.first[link] = pair;
        crossing.last[link] = pair;
      }
      latency_s_.push_back(latency);
      start.push_back(static_cast<std::uint32_t>(route_links.size()));
    }
  keep_distinct(std::move(route_links), start, crossing);
}

void GroupRoutes::keep_distinct(std::vector<int> route_links, const std::vector<std::uint32_t>& start, const LinkPairs& crossing) {
  // A link alike to a lower one in its count, first and last pair is a candidate twin of the
  // lowest such link, confirmed below.
  const std::size_t pairs = start.size() - 1, links = crossing.count.size();
  const auto summary = [&](int link) {
    const auto l = static_cast<std::size_t>(link);
    return std::make_tuple(crossing.count[l], crossing.first[l], crossing.last[l]);
  };
  std::vector<int> by_summary;
  for (std::size_t link = 0; link < links; ++link)
    if (crossing.count[link] > 0) by_summary.push_back(static_cast<int>(link));
  std::sort(by_summary.begin(), by_summary.end(), [&](int a, int b) { return std::make_pair(summary(a), a) < std::make_pair(summary(b), b); });
  std::vector<int> rep_of(links, -1);
  bool any = false;
  for (std::size_t j = 1; j < by_summary.size(); ++j) {
    const int link = by_summary[j], previous = by_summary[j - 1];
    if (summary(link) != summary(previous)) continue;
    const int rep = rep_of[static_cast<std::size_t>(previous)];
    rep_of[static_cast<std::size_t>(link)] = rep >= 0 ? rep : previous;
    any = true;
  }
  if (!any) {  // no twins: the distinct routes are the routes
    distinct_ = std::move(route_links);
    distinct_start_ = start;
    distinct_.shrink_to_fit();
    return;
  }
  // Confirmed exactly: a candidate crossed by as many pairs as its representative is its twin when
  // every route through it also goes through the representative.
  std::vector<char> twin(links, 0);
  for (std::size_t l = 0; l < links; ++l) twin[l] = rep_of[l] >= 0;
  for (std::size_t i = 0; i < pairs; ++i) {
    const int* route = route_links.data() + start[i];
    const int* route_end = route_links.data() + start[i + 1];
    for (const int* link = route; link != route_end; ++link)
      if (const int rep = rep_of[static_cast<std::size_t>(*link)]; rep >= 0 && std::find(route, route_end, rep) == route_end)
        twin[static_cast<std::size_t>(*link)] = 0;
  }
  for (std::size_t link = 0; link < links; ++link)
    if (twin[link]) twins_.emplace_back(static_cast<int>(link), rep_of[link]);
  distinct_start_.reserve(pairs + 1);
  distinct_start_.push_back(0);
  distinct_.reserve(route_links.size());
  for (std::size_t i = 0; i < pairs; ++i) {
    for (std::uint32_t k = start[i]; k < start[i + 1]; ++k)
      if (!twin[static_cast<std::size_t>(route_links[k])]) distinct_.push_back(route_links[k]);
    distinct_start_.push_back(static_cast<std::uint32_t>(distinct_.size()));
  }
  distinct_.shrink_to_fit();
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
