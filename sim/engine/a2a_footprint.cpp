#include "a2a_footprint.hpp"

#include <algorithm>
#include <numeric>

#include "metrics.hpp"

namespace comet {

const A2aFootprint& A2aFootprints::of(const Op& op) {
  const auto key = std::make_pair(op.matrix, op.reversed);
  if (auto found = cache_.find(key); found != cache_.end()) return found->second;
  A2aFootprint footprint;
  scratch_.assign(topology_.num_directed_links(), 0.0);
  const TransferMatrix& matrix = plan_.matrices()[op.matrix];
  std::vector<int> routes;  // every transfer's route, one after the other
  std::vector<std::size_t> route_start{0};
  messages_.assign(static_cast<std::size_t>(topology_.num_gpus()), 0);
  for (const Transfer& t : matrix.transfers) {
    const int src = op.reversed ? t.dst : t.src, dst = op.reversed ? t.src : t.dst;
    if (!model_) routes.clear();
    const std::size_t from = routes.size();
    topology_.append_route(src, dst, routes);
    if (model_) route_start.push_back(routes.size());
    double latency = 0.0;
    for (std::size_t i = from; i < routes.size(); ++i) {
      const int id = routes[i];
      scratch_[id] += t.bytes;
      latency += topology_.link(id).latency_s;
    }
    footprint.latency_s = std::max(footprint.latency_s, latency);
    // Each GPU posts one message per transfer it sends or receives (a matrix has one entry per pair).
    ++messages_[static_cast<std::size_t>(src)];
    ++messages_[static_cast<std::size_t>(dst)];
  }
  for (int id = 0; id < topology_.num_directed_links(); ++id)
    if (scratch_[id] > 0.0) footprint.loads.push_back({id, scratch_[id]});
  for (int gpu = 0; gpu < topology_.num_gpus(); ++gpu) {
    if (messages_[static_cast<std::size_t>(gpu)] == 0) continue;
    footprint.gpus.push_back(gpu);
    footprint.max_messages = std::max(footprint.max_messages, messages_[static_cast<std::size_t>(gpu)]);
  }
  if (model_) fill_parts(matrix, routes, route_start, footprint);
  return cache_.emplace(key, std::move(footprint)).first->second;
}

void A2aFootprints::fill_parts(const TransferMatrix& matrix, const std::vector<int>& routes,
                               const std::vector<std::size_t>& route_start, A2aFootprint& footprint) {
  // (A transfer's two GPUs are its source and destination in either direction: the same parts.)
  // Per link, its transfers sorted by bytes: the k-th smallest of n (ties in any order) is
  // through after (the k - 1 smaller ones + b x (n - k + 1)) / bandwidth, one sweep per link.
  struct Entry {
    double bytes;
    std::int32_t transfer;
  };
  const int links = topology_.num_directed_links();
  std::vector<std::size_t> start(static_cast<std::size_t>(links) + 1, 0);
  for (int id : routes) ++start[static_cast<std::size_t>(id) + 1];
  for (int id = 0; id < links; ++id) start[id + 1] += start[id];
  // Filled in increasing bytes, every link's entries come out sorted: one sort of the transfers
  // instead of one per link.
  std::vector<std::int32_t> by_bytes(matrix.transfers.size());
  std::iota(by_bytes.begin(), by_bytes.end(), 0);
  std::stable_sort(by_bytes.begin(), by_bytes.end(),
                   [&](std::int32_t a, std::int32_t b) { return matrix.transfers[a].bytes < matrix.transfers[b].bytes; });
  std::vector<Entry> entries(routes.size());
  std::vector<std::size_t> fill(start.begin(), start.end() - 1);
  for (std::int32_t t : by_bytes)
    for (std::size_t i = route_start[t]; i < route_start[t + 1]; ++i)
      entries[fill[routes[i]]++] = {matrix.transfers[t].bytes, t};
  std::vector<double> transfer_end(matrix.transfers.size(), 0.0);
  for (const LinkLoad& load : footprint.loads) {
    const auto first = entries.begin() + static_cast<std::ptrdiff_t>(start[load.link]);
    const auto last = entries.begin() + static_cast<std::ptrdiff_t>(start[load.link + 1]);
    const double Bps = model_->effective_Bps(topology_.link(load.link));
    double smaller = 0.0;
    auto left = static_cast<double>(last - first);
    for (auto it = first; it != last; ++it, left -= 1.0) {
      double& end = transfer_end[static_cast<std::size_t>(it->transfer)];
      end = std::max(end, (smaller + it->bytes * left) / Bps);
      smaller += it->bytes;
    }
  }
  std::vector<double> part_end(footprint.gpus.size(), 0.0);
  auto slot = [&](int gpu) {
    return static_cast<std::size_t>(std::lower_bound(footprint.gpus.begin(), footprint.gpus.end(), gpu) - footprint.gpus.begin());
  };
  double op_end = 0.0;
  for (std::size_t t = 0; t < matrix.transfers.size(); ++t) {
    const Transfer& tr = matrix.transfers[t];
    for (int gpu : {tr.src, tr.dst}) part_end[slot(gpu)] = std::max(part_end[slot(gpu)], transfer_end[t]);
    op_end = std::max(op_end, transfer_end[t]);
  }
  for (std::size_t g = 0; g < footprint.gpus.size(); ++g)
    footprint.parts.push_back({footprint.gpus[g], op_end > 0.0 ? std::min(1.0, part_end[g] / op_end) : 1.0});
  std::sort(footprint.parts.begin(), footprint.parts.end(), [](const PartThreshold& a, const PartThreshold& b) {
    return a.fraction != b.fraction ? a.fraction < b.fraction : a.gpu < b.gpu;
  });
}

double startup_s(const A2aFootprint& footprint, const CostModel& model) {
  return footprint.latency_s + model.a2a_per_message_s * footprint.max_messages;
}

double alone_s(const A2aFootprint& footprint, const Topology& topology, const CostModel& model) {
  double seconds = 0.0;
  for (const LinkLoad& load : footprint.loads)
    seconds = std::max(seconds, load.bytes / model.effective_Bps(topology.link(load.link)));
  return seconds;
}

void record_link_usage(const Plan& plan, Timeline& timeline, A2aFootprints& footprints, const Topology& topology,
                       const CostModel& model) {
  const int links = topology.num_directed_links();
  std::vector<std::vector<std::pair<double, double>>> spans(links);
  for (const Op& op : plan.ops()) {
    if (op.kind != OpKind::ALL_TO_ALL) continue;
    const TimelineOp& t = timeline.ops[op.id];
    for (const LinkLoad& load : footprints.of(op).loads) spans[load.link].emplace_back(t.start_s, t.end_s);
  }
  timeline.link_busy_s.assign(links, 0.0);
  timeline.link_effective_Bps.assign(links, 0.0);
  for (int id = 0; id < links; ++id) {
    timeline.link_busy_s[id] = union_length(std::move(spans[id]));
    timeline.link_effective_Bps[id] = model.effective_Bps(topology.link(id));
  }
}

}  // namespace comet
