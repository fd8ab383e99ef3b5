#include "critical_path.hpp"

#include <algorithm>
#include <map>
#include <tuple>

namespace comet {
namespace {

// A stream's ops wait for each other: the resource of a compute op is (its GPU, its stream),
// of an all-to-all (its group, its stream).
std::tuple<bool, std::int32_t, int> resource_of(const Op& op) {
  const bool a2a = op.kind == OpKind::ALL_TO_ALL;
  return {a2a, a2a ? op.group : op.gpu, static_cast<int>(stream_of(op))};
}

// Per op, the op before it on its stream (the latest start before its own), or -1.
std::vector<std::int32_t> stream_predecessors(const Plan& plan, const Timeline& t) {
  std::map<std::tuple<bool, std::int32_t, int>, std::vector<std::int32_t>> by_resource;
  for (const Op& op : plan.ops()) by_resource[resource_of(op)].push_back(op.id);
  std::vector<std::int32_t> before(plan.ops().size(), -1);
  for (auto& [resource, ids] : by_resource) {
    std::stable_sort(ids.begin(), ids.end(), [&](std::int32_t a, std::int32_t b) { return t.ops[a].start_s < t.ops[b].start_s; });
    for (std::size_t i = 1; i < ids.size(); ++i) before[ids[i]] = ids[i - 1];
  }
  return before;
}

// The same op's twin on `gpu`: same kind and tags (the critical GPU's share of the same work).
std::map<std::tuple<int, int, int, int, int, int, int>, std::int32_t> twins_on(const Plan& plan, int gpu) {
  std::map<std::tuple<int, int, int, int, int, int, int>, std::int32_t> out;
  for (const Op& op : plan.ops())
    if (op.gpu == gpu)
      out[{static_cast<int>(op.kind), op.tags.step, op.tags.layer, static_cast<int>(op.tags.direction),
           static_cast<int>(op.tags.phase), op.tags.chunk, op.tags.stage}] = op.id;
  return out;
}

}  // namespace

const char* to_string(PathCause cause) {
  switch (cause) {
    case PathCause::COMPUTE: return "compute";
    case PathCause::ALL_TO_ALL: return "all_to_all";
    case PathCause::IMBALANCE: return "imbalance";
  }
  return "?";
}

CriticalPath critical_path(const Plan& plan, const Timeline& t) {
  CriticalPath path;
  if (plan.ops().empty()) return path;
  const std::vector<std::int32_t> before = stream_predecessors(plan, t);
  double first_start = t.ops.front().start_s;
  std::int32_t last = 0;
  for (const TimelineOp& op : t.ops) {
    first_start = std::min(first_start, op.start_s);
    if (op.end_s > t.ops[last].end_s) last = op.op;
  }
  // Walk back: the predecessor that ended last (ties: one on the GPU the path is on, so a
  // balanced run stays on one GPU).
  // Each op on the chain with when it ended for the op after it: a computation on GPU g waited
  // for g's part of an all-to-all (Timeline::end_on), anything else for the whole op.
  std::vector<std::pair<std::int32_t, double>> chain{{last, t.ops[last].end_s}};
  // Measured op times are medians over repeats and may disagree with the order of the stream
  // or the dependencies by a little: an op is never visited twice, so the walk always ends.
  std::vector<bool> visited(plan.ops().size(), false);
  visited[last] = true;
  int on_gpu = plan.ops()[last].gpu;
  for (std::int32_t at = last;;) {
    std::int32_t best = -1;
    double best_end = 0.0;
    auto consider = [&](std::int32_t candidate) {
      if (candidate < 0 || visited[candidate]) return;
      const double end = t.end_on(candidate, plan.ops()[at].gpu);
      if (best < 0 || end > best_end ||
          (end == best_end && plan.ops()[candidate].gpu == on_gpu && plan.ops()[best].gpu != on_gpu)) {
        best = candidate;
        best_end = end;
      }
    };
    for (std::int32_t dep : plan.deps(at)) consider(dep);
    // A streaming consumer (fused kernels) started with its producers: what they waited for is
    // what it waited for; and when its end was theirs plus its tail, they are on the path.
    for (std::int32_t producer : plan.streaming_deps(at)) {
      if (t.ops[at].ended_by_stream) consider(producer);
      for (std::int32_t dep : plan.deps(producer)) consider(dep);
    }
    consider(before[at]);
    if (best < 0) break;
    visited[best] = true;
    chain.emplace_back(best, best_end);
    if (plan.ops()[best].gpu >= 0) on_gpu = plan.ops()[best].gpu;
    at = best;
  }
  std::reverse(chain.begin(), chain.end());
  path.gpu = 0;
  for (const auto& [id, end] : chain)
    if (plan.ops()[id].gpu >= 0) path.gpu = plan.ops()[id].gpu;
  const auto twins = twins_on(plan, path.gpu);

  std::map<std::tuple<int, int, int>, PathRow> rows;  // (step, 0 forward / 1 backward, layer in execution order)
  double reached = first_start;  // where the path stands: the previous step's end
  for (const auto& [id, end] : chain) {
    const Op& op = plan.ops()[id];
    const double seconds = std::max(0.0, end - reached);
    reached = std::max(reached, end);
    PathStep step{id};
    if (op.kind == OpKind::ALL_TO_ALL) {
      step.all_to_all_s = seconds;
    } else if (op.gpu == path.gpu) {
      step.compute_s = seconds;
    } else {
      // Another GPU's computation: as long as the critical GPU's twin took is compute, the rest
      // is the wait for a more loaded GPU.
      const auto twin = twins.find({static_cast<int>(op.kind), op.tags.step, op.tags.layer, static_cast<int>(op.tags.direction),
                                    static_cast<int>(op.tags.phase), op.tags.chunk, op.tags.stage});
      const double own = twin == twins.end() ? 0.0 : t.ops[twin->second].end_s - t.ops[twin->second].start_s;
      step.compute_s = std::min(seconds, own);
      step.imbalance_s = seconds - step.compute_s;
    }
    path.compute_s += step.compute_s;
    path.all_to_all_s += step.all_to_all_s;
    path.imbalance_s += step.imbalance_s;
    const bool forward = op.tags.direction == Direction::FORWARD;
    PathRow& row = rows[{op.tags.step, forward ? 0 : 1, forward ? op.tags.layer : -op.tags.layer}];
    row.step = op.tags.step;
    row.layer = op.tags.layer;
    row.direction = op.tags.direction;
    row.compute_s += step.compute_s;
    row.all_to_all_s += step.all_to_all_s;
    row.imbalance_s += step.imbalance_s;
    path.steps.push_back(step);
  }
  for (auto& [key, row] : rows) path.rows.push_back(row);
  return path;
}

}  // namespace comet
