#include "a2a_footprint.hpp"

#include <algorithm>
#include <numeric>
#include <tuple>

#include "metrics.hpp"

namespace comet {

const A2aFootprint& A2aFootprints::of(const Op& op) {
  if (cache_.empty()) {
    std::vector<const Op*> all_to_alls;
    for (const Op& o : plan_.ops())
      if (o.kind == OpKind::ALL_TO_ALL) all_to_alls.push_back(&o);
    std::stable_sort(all_to_alls.begin(), all_to_alls.end(),
                     [](const Op* a, const Op* b) { return std::tie(a->group, a->matrix) < std::tie(b->group, b->matrix); });
    for (const Op* o : all_to_alls) compute(*o);
  }
  return compute(op);
}

const A2aFootprints::RouteTable& A2aFootprints::routes_of(const TransferMatrix& matrix, bool reversed) {
  RouteTable& last = tables_[reversed ? 1 : 0];
  RouteTable table;
  table.pairs.reserve(matrix.transfers.size());
  table.latency_s.reserve(matrix.transfers.size());
  table.start.reserve(matrix.transfers.size() + 1);
  std::size_t old = 0;  // both tables are sorted by (src, dst): one merge finds the shared pairs
  for (const Transfer& t : matrix.transfers) {
    const std::pair<std::int32_t, std::int32_t> pair{t.src, t.dst};
    while (old < last.pairs.size() && last.pairs[old] < pair) ++old;
    if (old < last.pairs.size() && last.pairs[old] == pair) {
      table.links.insert(table.links.end(), last.links.begin() + static_cast<std::ptrdiff_t>(last.start[old]),
                         last.links.begin() + static_cast<std::ptrdiff_t>(last.start[old + 1]));
      table.latency_s.push_back(last.latency_s[old]);
    } else {
      const std::size_t from = table.links.size();
      topology_.append_route(reversed ? t.dst : t.src, reversed ? t.src : t.dst, table.links);
      double latency = 0.0;
      for (std::size_t i = from; i < table.links.size(); ++i) latency += topology_.link(table.links[i]).latency_s;
      table.latency_s.push_back(latency);
    }
    table.pairs.push_back(pair);
    table.start.push_back(table.links.size());
  }
  last = std::move(table);
  return last;
}

const A2aFootprint& A2aFootprints::compute(const Op& op) {
  const auto key = std::make_pair(op.matrix, op.reversed);
  if (auto found = cache_.find(key); found != cache_.end()) return found->second;
  A2aFootprint footprint;
  scratch_.assign(topology_.num_directed_links(), 0.0);
  messages_.assign(static_cast<std::size_t>(topology_.num_gpus()), 0);
  const TransferMatrix& matrix = plan_.matrices()[op.matrix];
  const RouteTable& routes = routes_of(matrix, op.reversed);
  for (std::size_t t = 0; t < matrix.transfers.size(); ++t) {
    const Transfer& transfer = matrix.transfers[t];
    for (std::size_t i = routes.start[t]; i < routes.start[t + 1]; ++i) scratch_[routes.links[i]] += transfer.bytes;
    footprint.latency_s = std::max(footprint.latency_s, routes.latency_s[t]);
    // Each GPU posts one message per transfer it sends or receives (a matrix has one entry per pair).
    ++messages_[static_cast<std::size_t>(transfer.src)];
    ++messages_[static_cast<std::size_t>(transfer.dst)];
  }
  for (int id = 0; id < topology_.num_directed_links(); ++id)
    if (scratch_[id] > 0.0) footprint.loads.push_back({id, scratch_[id]});
  for (int gpu = 0; gpu < topology_.num_gpus(); ++gpu) {
    if (messages_[static_cast<std::size_t>(gpu)] == 0) continue;
    footprint.gpus.push_back(gpu);
    footprint.max_messages = std::max(footprint.max_messages, messages_[static_cast<std::size_t>(gpu)]);
  }
  if (model_) fill_parts(matrix, routes, footprint);
  return cache_.emplace(key, std::move(footprint)).first->second;
}

void A2aFootprints::fill_parts(const TransferMatrix& matrix, const RouteTable& table, A2aFootprint& footprint) {
  const std::vector<int>& routes = table.links;
  const std::vector<std::size_t>& route_start = table.start;
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
