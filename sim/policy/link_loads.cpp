#include "link_loads.hpp"

#include <algorithm>

namespace comet {

LinkLoadModel::LinkLoadModel(const Topology& topology, const RoutingMatrix& routing, int expert_parallel,
                             double bytes_per_copy)
    : topology_(topology), routing_(routing), expert_parallel_(expert_parallel), bytes_per_copy_(bytes_per_copy),
      bytes_(topology.num_directed_links(), 0.0), inverse_bw_(topology.num_directed_links()) {
  for (int id = 0; id < topology.num_directed_links(); ++id) inverse_bw_[id] = 1.0 / topology.link(id).bandwidth_Bps;
  route_start_.reserve(static_cast<std::size_t>(routing.num_gpus()) * expert_parallel + 1);
  route_start_.push_back(0);
  for (int src = 0; src < routing.num_gpus(); ++src) {
    const int base = src - src % expert_parallel;
    for (int p = 0; p < expert_parallel; ++p) {
      topology.append_route(src, base + p, route_links_);
      route_start_.push_back(route_links_.size());
    }
  }
}

void LinkLoadModel::add_pair(int src, int position, double bytes) {
  for (const int* id = route_begin(src, position); id != route_end(src, position); ++id) {
    bytes_[*id] += bytes;
    bytes_[*id ^ 1] += bytes;  // the combine, on the reverse direction (links come in id pairs)
  }
}

void LinkLoadModel::assign(const std::vector<int>& position) {
  position_ = position;
  std::fill(bytes_.begin(), bytes_.end(), 0.0);
  for (int src = 0; src < routing_.num_gpus(); ++src) {
    const std::int32_t* row = routing_.row(src);
    std::vector<double> to_position(expert_parallel_, 0.0);
    for (int e = 0; e < routing_.num_experts(); ++e) to_position[position_[e]] += row[e] * bytes_per_copy_;
    for (int p = 0; p < expert_parallel_; ++p)
      if (to_position[p] > 0.0) add_pair(src, p, to_position[p]);
  }
}

double LinkLoadModel::max_link_time_s() const {
  double worst = 0.0;
  for (std::size_t id = 0; id < bytes_.size(); ++id) worst = std::max(worst, bytes_[id] * inverse_bw_[id]);
  return worst;
}

void LinkLoadModel::apply_swap(int a, int b, double sign) {
  const int pa = position_[a], pb = position_[b];
  for (int src = 0; src < routing_.num_gpus(); ++src) {
    // After the swap, pa receives b's copies instead of a's, and pb the reverse.
    const double delta = sign * (routing_.at(src, b) - routing_.at(src, a)) * bytes_per_copy_;
    if (delta == 0.0) continue;
    add_pair(src, pa, delta);
    add_pair(src, pb, -delta);
  }
}

double LinkLoadModel::max_link_time_after_swap(int a, int b) {
  apply_swap(a, b, +1.0);
  const double result = max_link_time_s();
  apply_swap(a, b, -1.0);
  return result;
}

void LinkLoadModel::swap(int a, int b) {
  apply_swap(a, b, +1.0);
  std::swap(position_[a], position_[b]);
}

int LinkLoadModel::position_most_on_max_link() const {
  int max_link = 0;
  for (std::size_t id = 1; id < bytes_.size(); ++id)
    if (bytes_[id] * inverse_bw_[id] > bytes_[max_link] * inverse_bw_[max_link]) max_link = static_cast<int>(id);
  std::vector<double> contribution(expert_parallel_, 0.0);
  for (int src = 0; src < routing_.num_gpus(); ++src) {
    const std::int32_t* row = routing_.row(src);
    for (int p = 0; p < expert_parallel_; ++p) {
      const bool crosses = std::any_of(route_begin(src, p), route_end(src, p),
                                       [&](int id) { return id == max_link || (id ^ 1) == max_link; });
      if (!crosses) continue;
      for (int e = 0; e < routing_.num_experts(); ++e)
        if (position_[e] == p) contribution[p] += row[e];
    }
  }
  return static_cast<int>(std::max_element(contribution.begin(), contribution.end()) - contribution.begin());
}

}  // namespace comet
