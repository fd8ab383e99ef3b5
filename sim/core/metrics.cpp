#include "metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <map>
#include <tuple>

namespace comet {

double union_length(std::vector<std::pair<double, double>> intervals) {
  std::sort(intervals.begin(), intervals.end());
  double total = 0.0, open = 0.0, close = -1.0;
  bool any = false;
  for (const auto& [start, end] : intervals) {
    if (!any || start > close) {
      if (any) total += close - open;
      open = start;
      close = end;
      any = true;
    } else {
      close = std::max(close, end);
    }
  }
  if (any) total += close - open;
  return total;
}

double layer_time_s(const Plan& plan, const Timeline& t) {
  return t.makespan_s() / std::max(1, plan.header().layers * plan.header().steps);
}

Metrics compute_metrics(const Plan& plan, const Timeline& t, const Topology& topology, const PathCosts& costs) {
  Metrics m;
  m.makespan_s = t.makespan_s();
  m.layer_time_s = layer_time_s(plan, t);
  m.critical_path = critical_path(plan, t);
  m.critical_gpu = m.critical_path.gpu;
  const int group = m.critical_gpu / plan.header().expert_parallel;
  std::vector<std::pair<double, double>> compute, comm;
  std::vector<double> busy(t.num_gpus, 0.0);
  std::vector<std::vector<std::pair<double, double>>> per_gpu(t.num_gpus);
  for (const TimelineOp& op : t.ops) {
    if (op.gpu >= 0) per_gpu[op.gpu].emplace_back(op.busy_from_s(), op.end_s);
    if (op.gpu == m.critical_gpu) compute.emplace_back(op.busy_from_s(), op.end_s);
    if (op.kind == OpKind::ALL_TO_ALL && op.group == group) comm.emplace_back(op.start_s, t.end_on(op.op, m.critical_gpu));
  }
  m.compute_s = union_length(compute);
  m.comm_s = union_length(comm);
  m.imbalance_s = m.critical_path.imbalance_s;
  m.exposed_comm_s = std::max(0.0, m.makespan_s - m.compute_s - m.imbalance_s);
  m.overlap_ratio = m.comm_s > 0.0 ? std::clamp(1.0 - m.exposed_comm_s / m.comm_s, 0.0, 1.0) : 1.0;
  // Exposed == communication up to rounding reads as 0, not 3e-16 (reports would plot the noise).
  if (m.overlap_ratio < 1e-9) m.overlap_ratio = 0.0;
  double total_busy = 0.0;
  for (auto& intervals : per_gpu) total_busy += union_length(std::move(intervals));
  m.idle_fraction = m.makespan_s > 0.0 ? 1.0 - total_busy / (t.num_gpus * m.makespan_s) : 0.0;

  // Each matrix's bytes by tier once, times the all-to-all ops that move it (a chunk's dispatch,
  // combine and their gradients share one matrix): a pass over every op's transfers was a fifth of
  // `comet simulate --engine analytical`.
  std::vector<int> moves(plan.matrices().size(), 0);
  for (const Op& op : plan.ops())
    if (op.kind == OpKind::ALL_TO_ALL) ++moves[static_cast<std::size_t>(op.matrix)];
  for (std::size_t id = 0; id < moves.size(); ++id) {
    if (moves[id] == 0) continue;
    std::array<double, NUM_TIERS> matrix_bytes{};
    for (const Transfer& tr : plan.matrices()[id].transfers) matrix_bytes[static_cast<std::size_t>(costs(tr.src, tr.dst).tier)] += tr.bytes;
    for (std::size_t tier = 0; tier < NUM_TIERS; ++tier) m.bytes_by_tier[tier] += moves[id] * matrix_bytes[tier];
  }
  if (!t.link_bytes.empty()) {
    const int links = topology.num_directed_links();
    const bool effective = t.link_effective_Bps.size() == static_cast<std::size_t>(links);
    auto capacity = [&](int id) { return effective ? t.link_effective_Bps[id] : topology.link(id).bandwidth_Bps; };
    int worst = 0;
    for (int id = 0; id < links; ++id) {
      m.bytes_by_link_class[static_cast<std::size_t>(topology.link(id).link_class)] += t.link_bytes[id];
      if (t.link_bytes[id] / capacity(id) > t.link_bytes[worst] / capacity(worst)) worst = id;
    }
    const auto [from, to] = topology.link_endpoints(worst);
    m.max_link = fmt::format("{} -> {}", topology.vertex_name(from), topology.vertex_name(to));
    m.max_link_bytes = t.link_bytes[worst];
    const double needed_s = t.link_bytes[worst] / capacity(worst);  // at full effective rate
    m.max_link_mean_utilization = m.makespan_s > 0.0 ? needed_s / m.makespan_s : 0.0;
    const double busy_s = t.link_busy_s.size() == static_cast<std::size_t>(links) ? t.link_busy_s[worst] : m.makespan_s;
    m.max_link_busy_utilization = busy_s > 0.0 ? needed_s / busy_s : 0.0;
  }
  return m;
}

std::vector<PhaseRow> phase_rows(const Timeline& t, const Metrics& m, int expert_parallel) {
  // Busy compute and communication of the critical GPU and its group per layer direction.
  std::map<std::tuple<int, int, int>, std::pair<std::vector<std::pair<double, double>>, std::vector<std::pair<double, double>>>> busy;
  auto key_of = [](const OpTags& tags) {
    const bool forward = tags.direction == Direction::FORWARD;
    return std::make_tuple(tags.step, forward ? 0 : 1, forward ? tags.layer : -tags.layer);
  };
  const int group = m.critical_gpu / expert_parallel;
  for (const TimelineOp& op : t.ops) {
    if (op.gpu == m.critical_gpu) busy[key_of(op.tags)].first.emplace_back(op.busy_from_s(), op.end_s);
    if (op.kind == OpKind::ALL_TO_ALL && op.group == group)
      busy[key_of(op.tags)].second.emplace_back(op.start_s, t.end_on(op.op, m.critical_gpu));
  }
  std::vector<PhaseRow> rows;
  for (const PathRow& p : m.critical_path.rows) {
    PhaseRow row;
    row.step = p.step;
    row.layer = p.layer;
    row.direction = p.direction;
    row.span_s = p.seconds();
    row.path_compute_s = p.compute_s;
    row.path_comm_s = p.all_to_all_s;
    row.imbalance_s = p.imbalance_s;
    OpTags tags;
    tags.step = p.step, tags.layer = p.layer, tags.direction = p.direction;
    if (const auto it = busy.find(key_of(tags)); it != busy.end()) {
      row.compute_s = union_length(it->second.first);
      row.comm_s = union_length(it->second.second);
    }
    row.exposed_s = std::max(0.0, row.span_s - row.compute_s - row.imbalance_s);
    rows.push_back(row);
  }
  return rows;
}

}  // namespace comet
