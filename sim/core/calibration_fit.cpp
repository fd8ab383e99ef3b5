#include "calibration_fit.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <tuple>

#include "median.hpp"
#include "op_costs.hpp"

namespace comet {
namespace {

using Points = std::vector<std::pair<double, double>>;

double duration_s(const Timeline& t, const Op& op) { return t.ops[op.id].end_s - t.ops[op.id].start_s; }

// One expert op's measurement: its mean rows per expert with work, its time per such expert.
struct ExpertSample {
  const Plan* plan;
  const Op* op;
  double mean_m, seconds_per_expert;
  double seconds;  ///< its time on every SM without interference: the tables' unit (compute_time_s's inverse)
  bool alone;  ///< no other op of its GPU ran beside it
  double measured_s = 0.0;  ///< its measured time, interference included
  double exposure_s = 0.0;  ///< memory-kernel seconds beside it (memory_exposure_s)
};

// (M, y) points sorted by M merged into knots at each group's median M and median y: a new group
// when M is more than 15% above the group's first (calibration loads step by 2x); `group_of[i]`
// is point i's knot.
MeasuredCurve knots_by_m(const std::vector<std::pair<double, double>>& sorted, std::vector<std::size_t>& group_of) {
  MeasuredCurve curve;
  group_of.assign(sorted.size(), 0);
  std::vector<double> group_m, group_y;
  auto flush = [&] {
    if (group_m.empty()) return;
    curve.emplace_back(median(group_m), median(group_y));
    group_m.clear();
    group_y.clear();
  };
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    if (!group_m.empty() && sorted[i].first > group_m.front() * 1.15) flush();
    group_m.push_back(sorted[i].first);
    group_y.push_back(sorted[i].second);
    group_of[i] = curve.size();
  }
  flush();
  return curve;
}

// The samples (sorted in place by M) as table knots of time per expert (knots_by_m).
MeasuredCurve merge_by_m(std::vector<ExpertSample>& samples, std::vector<std::size_t>& group_of) {
  std::sort(samples.begin(), samples.end(), [](const ExpertSample& a, const ExpertSample& b) { return a.mean_m < b.mean_m; });
  std::vector<std::pair<double, double>> points;
  for (const ExpertSample& s : samples) points.emplace_back(s.mean_m, s.seconds_per_expert);
  return knots_by_m(points, group_of);
}

// An op's experts have different M even under uniform routing (sampled counts), and a table is
// not linear in M, so the mean-M knots are only a start: each knot is then scaled by the median
// ratio of measured to predicted time of its ops, where the prediction sums the table over the
// op's own experts, until the knots stop moving. A knot with ops that ran alone on their GPU is
// decided by those alone: an op beside another chunk's kernels also measures their interference
// (the engines run those beside it).
void refine_table(CostModel& model, ShapeCosts& table, ExpertPass pass, const std::vector<ExpertSample>& samples,
                  const std::vector<std::size_t>& group_of) {
  MeasuredCurve& curve = table.seconds_by_m[static_cast<std::size_t>(pass)];
  for (int iteration = 0; iteration < 50; ++iteration) {
    std::vector<std::vector<double>> ratios(curve.size());
    std::vector<bool> has_alone(curve.size(), false);
    for (std::size_t i = 0; i < samples.size(); ++i) has_alone[group_of[i]] = has_alone[group_of[i]] || samples[i].alone;
    for (std::size_t i = 0; i < samples.size(); ++i) {
      if (has_alone[group_of[i]] && !samples[i].alone) continue;
      double predicted = 0.0;
      for (const ExpertWork& w : samples[i].plan->work(*samples[i].op))
        predicted += model.expert_time_s(pass, static_cast<double>(w.tokens), table.hidden, table.ffn);
      if (predicted > 0.0) ratios[group_of[i]].push_back(samples[i].seconds / predicted);
    }
    double largest_step = 0.0;
    for (std::size_t g = 0; g < curve.size(); ++g) {
      if (ratios[g].empty()) continue;
      const double r = median(ratios[g]);
      curve[g].second *= r;
      largest_step = std::max(largest_step, std::abs(r - 1.0));
    }
    if (largest_step < 1e-6) break;
  }
}

struct TableKey {
  int hidden, ffn;
  auto operator<=>(const TableKey&) const = default;
};

// One fused launch's measurement (a `comet:B` Plan's expert GEMM op).
struct FusedSample {
  const Plan* plan;
  const Op* op;
  double measured_s;
  double exposure_s = 0.0;  ///< memory-kernel seconds beside it (memory_exposure_s)
};

// The FusedScales curve of `launch` (`scales`, of the samples' B, in `shape`): per fused op, its
// mean rows per expert and its measured time over what the fitted tables price it at
// (compute_time_s unscaled, on the op's SMs) with the memory interference the engines would
// charge it, merged into knots by M (knots_by_m).
void fit_fused_scale(const CostModel& model, MeasuredCurve& scales, const std::vector<FusedSample>& samples) {
  scales.clear();  // unscaled while priced
  std::vector<std::pair<double, double>> points;
  for (const FusedSample& s : samples) {
    double rows = 0.0;
    for (const ExpertWork& w : s.plan->work(*s.op)) rows += static_cast<double>(w.tokens);
    const double predicted = compute_time_s(*s.plan, *s.op, model) + model.memory_kernel_interference * s.exposure_s;
    if (predicted > 0.0 && s.op->num_work > 0) points.emplace_back(rows / s.op->num_work, s.measured_s / predicted);
  }
  std::sort(points.begin(), points.end());
  std::vector<std::size_t> group_of;
  scales = knots_by_m(points, group_of);
}

void add_quality(std::vector<FitQuality>& out, const std::string& table, const std::vector<double>& residuals) {
  if (residuals.empty()) return;
  out.push_back({table, static_cast<int>(residuals.size()), median(residuals),
                 *std::max_element(residuals.begin(), residuals.end())});
}

}  // namespace

LinearCost fit_linear_cost(const Points& points) {
  if (points.empty()) throw std::invalid_argument("no points to fit");
  // Weighted least squares of s = a + b x with weights w = 1 / s^2 (relative residuals).
  double sw = 0, sx = 0, ss = 0, sxx = 0, sxs = 0;
  for (const auto& [x, s] : points) {
    const double w = 1.0 / (s * s);
    sw += w, sx += w * x, ss += w * s, sxx += w * x * x, sxs += w * x * s;
  }
  const double det = sw * sxx - sx * sx;
  double a = 0.0, b = 0.0;
  if (det > 1e-12 * sw * sxx) {
    b = (sw * sxs - sx * ss) / det;
    a = (ss - b * sx) / sw;
  }
  if (!(det > 1e-12 * sw * sxx) || a < 0.0 || b <= 0.0) {  // one amount only, or a negative overhead: through the origin
    a = 0.0;
    b = sxs / sxx;
  }
  if (!(b > 0.0)) throw std::invalid_argument("measured times do not grow with the amount");
  return {a, 1.0 / b};
}

namespace {

// Per op of a measured run: whether it ran alone on its GPU (no other computation or memory
// kernel overlapping it). Kernel costs are fitted from those only: beside a GEMM on another
// stream a memory kernel waits for SMs and shares bandwidth, which is interference, not its cost.
std::vector<bool> ran_alone(const Plan& plan, const Timeline& t) {
  std::map<int, std::vector<std::int32_t>> per_gpu;
  for (const Op& op : plan.ops())
    if (op.kind != OpKind::ALL_TO_ALL) per_gpu[op.gpu].push_back(op.id);
  std::vector<bool> alone(plan.ops().size(), true);
  for (auto& [gpu, ids] : per_gpu) {
    std::sort(ids.begin(), ids.end(), [&](std::int32_t a, std::int32_t b) { return t.ops[a].start_s < t.ops[b].start_s; });
    double reach = -1e300;  // the latest end among the ops started so far
    std::int32_t reach_op = -1;
    for (std::int32_t id : ids) {
      if (t.ops[id].start_s < reach) alone[id] = alone[reach_op] = false;
      if (t.ops[id].end_s > reach) reach = t.ops[id].end_s, reach_op = id;
    }
  }
  return alone;
}

// Per compute-stream op of a measured run: the seconds of memory kernels (permute, unpermute)
// that ran beside it on its GPU, each kernel counted at its cost under `model` times the share of
// its measured span that overlapped the op (beside a GEMM a kernel's span stretches, its work
// does not). The engines charge memory_kernel_interference x this (compute_streams.hpp).
std::vector<double> memory_exposure_s(const Plan& plan, const Timeline& t, const CostModel& model) {
  std::map<int, std::vector<std::int32_t>> memory_ops;
  for (const Op& op : plan.ops())
    if (op.kind != OpKind::ALL_TO_ALL && stream_of(op) != StreamRole::COMPUTE) memory_ops[op.gpu].push_back(op.id);
  std::vector<double> exposure(plan.ops().size(), 0.0);
  for (const Op& op : plan.ops()) {
    if (op.kind == OpKind::ALL_TO_ALL || stream_of(op) != StreamRole::COMPUTE) continue;
    const TimelineOp& c = t.ops[op.id];
    for (std::int32_t id : memory_ops[op.gpu]) {
      const TimelineOp& m = t.ops[id];
      const double span = m.end_s - m.start_s, overlap = std::min(m.end_s, c.end_s) - std::max(m.start_s, c.start_s);
      if (span > 0.0 && overlap > 0.0) exposure[op.id] += compute_time_s(plan, plan.ops()[id], model) * overlap / span;
    }
  }
  return exposure;
}

// The correction to `model`'s memory_kernel_interference from the compute-stream ops that ran
// beside memory kernels: the least-squares slope, on relative residuals, of what their measured
// times still exceed the prediction by (the interference already charged included) over their
// exposure; 0 when nothing ran beside anything.
double fit_memory_interference(const std::vector<MeasuredRun>& runs, const std::vector<std::vector<double>>& exposures,
                               const CostModel& model) {
  double sxy = 0.0, sxx = 0.0;
  for (std::size_t r = 0; r < runs.size(); ++r)
    for (const Op& op : runs[r].plan->ops()) {
      if (fused_gemm(*runs[r].plan, op)) continue;  // its own scale, fitted after
      const double x = exposures[r][op.id], d = duration_s(*runs[r].timeline, op);
      if (!(x > 0.0) || !(d > 0.0)) continue;
      const double predicted = compute_time_s(*runs[r].plan, op, model);
      if (!(predicted > 0.0)) continue;
      sxy += (x / d) * ((d - predicted - model.memory_kernel_interference * x) / d);
      sxx += (x / d) * (x / d);
    }
  return sxx > 0.0 ? std::clamp(sxy / sxx, 0.0, 10.0) : 0.0;
}

// memory_kernel_rate_beside_compute: per memory kernel (permute, unpermute) that ran beside
// compute-stream ops of its GPU for w of its measured s seconds, the rate its cost c under `model`
// implies there when it ran at its alone rate the rest of its span, (c - (s - w)) / w within
// [0, 1] (the engines' rule, compute_streams.hpp); their median, within [0.02, 1]. `model`'s own
// when none ran beside compute work.
double fit_memory_kernel_rate(const std::vector<MeasuredRun>& runs, const CostModel& model) {
  std::vector<double> rates;
  for (const MeasuredRun& run : runs) {
    const Plan& plan = *run.plan;
    const Timeline& t = *run.timeline;
    for (const Op& op : plan.ops()) {
      if (op.kind != OpKind::PERMUTE && op.kind != OpKind::UNPERMUTE) continue;
      const TimelineOp& m = t.ops[op.id];
      const double s = m.end_s - m.start_s;
      double w = 0.0;  // one compute stream: its ops do not overlap one another
      for (const Op& other : plan.ops())
        if (other.gpu == op.gpu && other.kind != OpKind::ALL_TO_ALL && stream_of(other) == StreamRole::COMPUTE)
          w += std::max(0.0, std::min(m.end_s, t.ops[other.id].end_s) - std::max(m.start_s, t.ops[other.id].start_s));
      w = std::min(w, s);
      const double c = compute_time_s(plan, op, model);
      if (!(s > 0.0) || !(c > 0.0) || w <= 0.02 * s) continue;  // alone, or beside compute for a moment
      rates.push_back(std::clamp((c - (s - w)) / w, 0.0, 1.0));
    }
  }
  return rates.empty() ? model.memory_kernel_rate_beside_compute : std::clamp(median(rates), 0.02, 1.0);
}

std::string table_name(const Plan& plan, const Op& op) {
  const PlanHeader& h = plan.header();
  if (op.kind == OpKind::EXPERT_GEMM || op.kind == OpKind::EXPERT_WGRAD)
    return fused_gemm(plan, op)
               ? fmt::format("fused {} H{} F{}", fused_launch_name(fused_launch(expert_pass(op), op.tags.stage)), h.hidden, h.expert_ffn)
               : fmt::format("expert {} H{} F{}", to_string(expert_pass(op)), h.hidden, h.expert_ffn);
  return fmt::format("{} {} H{} F{}", to_string(op.kind), to_string(op.tags.direction), h.hidden, h.expert_ffn);
}

}  // namespace

CalibrationFit fit_cost_model(const std::vector<MeasuredRun>& runs, const CostModel& base, double gpu_link_Bps) {
  if (runs.empty()) throw std::invalid_argument("no measured runs to fit");
  std::map<std::pair<TableKey, std::size_t>, Points> shape_kernel_points;
  std::map<std::size_t, Points> kernel_points;  // every shape together
  std::map<std::pair<TableKey, std::size_t>, std::vector<ExpertSample>> expert_samples;
  std::map<std::tuple<TableKey, int, std::size_t>, std::vector<FusedSample>> fused_samples;  // shape, B, launch
  Points a2a_points;  // (bytes of the busiest GPU, seconds)
  for (const MeasuredRun& run : runs) {
    const Plan& plan = *run.plan;
    const TableKey key{plan.header().hidden, plan.header().expert_ffn};
    const std::vector<bool> alone = ran_alone(plan, *run.timeline);
    for (const Op& op : plan.ops()) {
      const double d = duration_s(*run.timeline, op);
      if (!(d > 0.0)) continue;
      switch (op.kind) {
        case OpKind::EXPERT_GEMM:
        case OpKind::EXPERT_WGRAD: {
          if (fused_gemm(plan, op)) {  // not the tables' kernels: their scale, after the tables
            fused_samples[{key, plan.header().transfer_blocks, fused_launch(expert_pass(op), op.tags.stage)}].push_back(
                {&plan, &op, d});
            break;
          }
          double rows = 0.0;
          for (const ExpertWork& w : plan.work(op)) rows += static_cast<double>(w.tokens);
          if (op.num_work > 0)
            expert_samples[{key, static_cast<std::size_t>(expert_pass(op))}].push_back(
                {&plan, &op, rows / op.num_work, d / op.num_work, d, alone[op.id], d, 0.0});
          break;
        }
        case OpKind::ALL_TO_ALL: {
          std::map<int, double> sent, received;
          for (const Transfer& t : plan.matrices()[op.matrix].transfers)
            if (t.src != t.dst) sent[t.src] += t.bytes, received[t.dst] += t.bytes;
          double busiest = 0.0;
          for (const auto* side : {&sent, &received})
            for (const auto& [gpu, bytes] : *side) busiest = std::max(busiest, bytes);
          if (busiest > 0.0) a2a_points.emplace_back(busiest, d);
          break;
        }
        default: {
          const bool by_bytes = op.kind == OpKind::PERMUTE || op.kind == OpKind::UNPERMUTE;
          const double amount = by_bytes ? op.bytes : op.flops;
          if (amount <= 0.0 || !alone[op.id]) break;
          const std::size_t index = kernel_cost_index(op.kind, op.tags.direction);
          shape_kernel_points[{key, index}].emplace_back(amount, d);
          kernel_points[index].emplace_back(amount, d);
        }
      }
    }
  }
  CalibrationFit fit{base, {}};
  CostModel& model = fit.model;
  auto shape_of = [&](const TableKey& key) -> ShapeCosts& {
    for (ShapeCosts& s : model.shapes)
      if (s.hidden == key.hidden && s.ffn == key.ffn) return s;
    return model.shapes.emplace_back(ShapeCosts{key.hidden, key.ffn, {}, {}, {}});
  };
  for (const auto& [index, points] : kernel_points) model.kernel_costs[index] = fit_linear_cost(points);
  for (const auto& [key_index, points] : shape_kernel_points) shape_of(key_index.first).kernels[key_index.second] = fit_linear_cost(points);
  model.memory_kernel_rate_beside_compute = fit_memory_kernel_rate(runs, model);
  // The expert tables and memory_kernel_interference together: the tables from the ops' times
  // less the interference charged to them, the interference from the residuals of those tables;
  // alternated until they settle (knots with ops that ran alone anchor it).
  std::vector<std::vector<double>> exposures;
  for (const MeasuredRun& run : runs) exposures.push_back(memory_exposure_s(*run.plan, *run.timeline, model));
  std::size_t run_index = 0;
  std::map<const Plan*, std::size_t> run_of;
  for (const MeasuredRun& run : runs) run_of[run.plan] = run_index++;
  for (auto& [key_pass, samples] : expert_samples)
    for (ExpertSample& s : samples) s.exposure_s = exposures[run_of[s.plan]][s.op->id];
  for (auto& [key_pass, samples] : fused_samples)
    for (FusedSample& s : samples) s.exposure_s = exposures[run_of[s.plan]][s.op->id];
  model.memory_kernel_interference = 0.0;
  for (int round = 0; round < 20; ++round) {
    for (auto& [key_pass, samples] : expert_samples) {
      for (ExpertSample& s : samples) {
        // On a share of the SMs (an NCCL policy's) the engines price table / share.
        s.seconds = std::max(0.5 * s.measured_s, s.measured_s - model.memory_kernel_interference * s.exposure_s) * sm_share(*s.op);
        s.seconds_per_expert = s.seconds / s.op->num_work;
      }
      ShapeCosts& shape = shape_of(key_pass.first);
      std::vector<std::size_t> group_of;
      shape.seconds_by_m[key_pass.second] = merge_by_m(samples, group_of);
      refine_table(model, shape, static_cast<ExpertPass>(key_pass.second), samples, group_of);
    }
    const double before = model.memory_kernel_interference;
    model.memory_kernel_interference += fit_memory_interference(runs, exposures, model);
    if (std::abs(model.memory_kernel_interference - before) < 1e-4) break;
  }
  for (const auto& [key_blocks_launch, samples] : fused_samples) {  // by shape, then increasing B
    const auto& [key, blocks, launch] = key_blocks_launch;
    std::vector<FusedScales>& fused = shape_of(key).fused;
    if (fused.empty() || fused.back().blocks != blocks) fused.push_back({blocks, {}});
    fit_fused_scale(model, fused.back().by_m[launch], samples);
  }
  if (!a2a_points.empty() && gpu_link_Bps > 0.0) {
    const LinearCost transfer = fit_linear_cost(a2a_points);
    model.link_efficiency[static_cast<std::size_t>(LinkClass::NVLINK)] = std::clamp(transfer.rate / gpu_link_Bps, 0.01, 1.0);
  }
  // Residuals under the fitted model of every op a table was fitted from (with the interference
  // the engines would charge it).
  std::map<std::string, std::vector<double>> residuals;
  run_index = 0;
  for (const MeasuredRun& run : runs) {
    const std::vector<double>& exposure = exposures[run_index++];
    const Plan& plan = *run.plan;
    const std::vector<bool> alone = ran_alone(plan, *run.timeline);
    for (const Op& op : plan.ops()) {
      const double d = duration_s(*run.timeline, op);
      const bool expert = op.kind == OpKind::EXPERT_GEMM || op.kind == OpKind::EXPERT_WGRAD;
      if (!(d > 0.0) || op.kind == OpKind::ALL_TO_ALL || (!expert && !alone[op.id])) continue;
      if (!expert && !model.kernel_cost(op.kind, op.tags.direction, plan.header().hidden, plan.header().expert_ffn)) continue;
      const double predicted = compute_time_s(plan, op, model) + model.memory_kernel_interference * exposure[op.id];
      residuals[table_name(plan, op)].push_back(std::abs(predicted - d) / d);
    }
  }
  for (const auto& [table, r] : residuals) add_quality(fit.quality, table, r);
  model.fit_quality = fit.quality;
  return fit;
}

}  // namespace comet
