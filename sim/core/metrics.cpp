#include "metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
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

namespace {

int critical_gpu_of(const Timeline& t) {
  std::vector<double> last_end(t.num_gpus, -1.0);
  for (const TimelineOp& op : t.ops)
    if (op.gpu >= 0) last_end[op.gpu] = std::max(last_end[op.gpu], op.end_s);
  return static_cast<int>(std::max_element(last_end.begin(), last_end.end()) - last_end.begin());
}

}  // namespace

Metrics compute_metrics(const Plan& plan, const Timeline& t, const Topology& topology, const PathCosts& costs) {
  Metrics m;
  m.makespan_s = t.makespan_s();
  m.layer_time_s = m.makespan_s / std::max(1, plan.header().layers * plan.header().steps);
  m.critical_gpu = critical_gpu_of(t);
  const int group = m.critical_gpu / plan.header().expert_parallel;
  std::vector<std::pair<double, double>> compute, comm;
  std::vector<double> busy(t.num_gpus, 0.0);
  std::vector<std::vector<std::pair<double, double>>> per_gpu(t.num_gpus);
  for (const TimelineOp& op : t.ops) {
    if (op.gpu >= 0) per_gpu[op.gpu].emplace_back(op.start_s, op.end_s);
    if (op.gpu == m.critical_gpu) compute.emplace_back(op.start_s, op.end_s);
    if (op.kind == OpKind::ALL_TO_ALL && op.group == group) comm.emplace_back(op.start_s, op.end_s);
  }
  m.compute_s = union_length(compute);
  m.comm_s = union_length(comm);
  m.exposed_comm_s = std::max(0.0, m.makespan_s - m.compute_s);
  m.overlap_ratio = m.comm_s > 0.0 ? std::clamp(1.0 - m.exposed_comm_s / m.comm_s, 0.0, 1.0) : 1.0;
  // Exposed == communication up to rounding reads as 0, not 3e-16 (reports would plot the noise).
  if (m.overlap_ratio < 1e-9) m.overlap_ratio = 0.0;
  double total_busy = 0.0;
  for (auto& intervals : per_gpu) total_busy += union_length(std::move(intervals));
  m.idle_fraction = m.makespan_s > 0.0 ? 1.0 - total_busy / (t.num_gpus * m.makespan_s) : 0.0;

  for (const Op& op : plan.ops())
    if (op.kind == OpKind::ALL_TO_ALL)
      for (const Transfer& tr : plan.matrices()[op.matrix].transfers)
        m.bytes_by_tier[static_cast<std::size_t>(costs(tr.src, tr.dst).tier)] += tr.bytes;
  if (!t.link_bytes.empty()) {
    int worst = 0;
    for (int id = 0; id < topology.num_directed_links(); ++id) {
      m.bytes_by_link_class[static_cast<std::size_t>(topology.link(id).link_class)] += t.link_bytes[id];
      if (t.link_bytes[id] / topology.link(id).bandwidth_Bps > t.link_bytes[worst] / topology.link(worst).bandwidth_Bps) worst = id;
    }
    const auto [from, to] = topology.link_endpoints(worst);
    m.max_link = fmt::format("{} -> {}", topology.vertex_name(from), topology.vertex_name(to));
    m.max_link_bytes = t.link_bytes[worst];
    m.max_link_utilization =
        m.makespan_s > 0.0 ? t.link_bytes[worst] / (topology.link(worst).bandwidth_Bps * m.makespan_s) : 0.0;
  }
  return m;
}

std::vector<PhaseRow> phase_rows(const Timeline& t, int critical_gpu, int expert_parallel) {
  struct Spans {
    double first = 1e300, last = -1e300;
    std::vector<std::pair<double, double>> compute, comm;
  };
  // (step, 0 forward / 1 backward, layer in execution order): forward ascends, backward descends.
  std::map<std::tuple<int, int, int>, Spans> spans;
  const int group = critical_gpu / expert_parallel;
  for (const TimelineOp& op : t.ops) {
    const bool forward = op.tags.direction == Direction::FORWARD;
    Spans& s = spans[{op.tags.step, forward ? 0 : 1, forward ? op.tags.layer : -op.tags.layer}];
    if (op.gpu == critical_gpu) s.compute.emplace_back(op.start_s, op.end_s);
    if (op.kind == OpKind::ALL_TO_ALL && op.group == group) s.comm.emplace_back(op.start_s, op.end_s);
    if (op.gpu == critical_gpu || (op.kind == OpKind::ALL_TO_ALL && op.group == group)) {
      s.first = std::min(s.first, op.start_s);
      s.last = std::max(s.last, op.end_s);
    }
  }
  std::vector<PhaseRow> rows;
  for (auto& [key, s] : spans) {
    PhaseRow row;
    row.step = std::get<0>(key);
    row.layer = std::abs(std::get<2>(key));
    row.direction = std::get<1>(key) == 0 ? Direction::FORWARD : Direction::BACKWARD;
    row.span_s = s.last > s.first ? s.last - s.first : 0.0;
    row.compute_s = union_length(s.compute);
    row.comm_s = union_length(s.comm);
    row.exposed_s = std::max(0.0, row.span_s - row.compute_s);
    rows.push_back(row);
  }
  return rows;
}

}  // namespace comet
