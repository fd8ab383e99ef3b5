#include "dependency_release.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "input_error.hpp"
#include "op_costs.hpp"

namespace comet {

bool per_gpu_completion() {
  const char* value = std::getenv("COMET_A2A_COMPLETION");
  if (!value || std::string(value) == "per-gpu") return true;
  if (std::string(value) == "group") return false;
  throw InputError({"<environment>", 0, 0}, "COMET_A2A_COMPLETION", value, "per-gpu or group");
}

void mark_ends_by_stream(const Plan& plan, const CostModel& model, Timeline& timeline) {
  if (!plan.has_streaming()) return;
  for (const Op& op : plan.ops()) {
    const auto producers = plan.streaming_deps(op.id);
    if (producers.empty()) continue;
    double last = 0.0;
    for (std::int32_t p : producers) last = std::max(last, timeline.end_on(p, op.gpu));
    TimelineOp& entry = timeline.ops[op.id];
    const double floor = last + streaming_tail_s(plan, op, model);
    entry.ended_by_stream = std::abs(entry.end_s - floor) <= 1e-12 * std::max(1.0, entry.end_s);
    if (entry.ended_by_stream && op.kind != OpKind::ALL_TO_ALL)
      entry.stream_wait_s = std::max(0.0, entry.end_s - entry.start_s - compute_time_s(plan, op, model));
  }
}

DependencyRelease::DependencyRelease(const Plan& plan)
    : plan_(plan), successors_(successors_of(plan)), streamers_(successors_of(plan, true)), pending_(plan.ops().size()),
      streams_pending_(plan.ops().size()) {
  auto by_gpu = [&](std::int32_t a, std::int32_t b) { return plan.ops()[a].gpu < plan.ops()[b].gpu; };
  for (const Op& op : plan.ops()) {
    streams_pending_[op.id] = static_cast<int>(plan.streaming_deps(op.id).size());
    pending_[op.id] = static_cast<int>(plan.deps(op.id).size()) + streams_pending_[op.id];
    if (op.kind != OpKind::ALL_TO_ALL) continue;
    for (Successors* s : {&successors_, &streamers_})
      std::stable_sort(s->ids.data() + s->start[op.id], s->ids.data() + s->start[op.id + 1], by_gpu);
  }
}

std::vector<std::int32_t> DependencyRelease::roots() const {
  std::vector<std::int32_t> roots;
  for (const Op& op : plan_.ops())
    if (pending_[op.id] == 0) roots.push_back(op.id);
  return roots;
}

void DependencyRelease::started(std::int32_t op, std::vector<std::int32_t>& ready) {
  for (std::int32_t next : streamers_.of(op)) release(next, ready);
}

void DependencyRelease::computation_done(std::int32_t op, std::vector<std::int32_t>& ready) {
  for (std::int32_t next : successors_.of(op)) release(next, ready);
  for (std::int32_t next : streamers_.of(op)) stream_ended(next);
}

template <class Act>
void DependencyRelease::on_gpu(const Successors& successors, std::int32_t op, std::int32_t gpu, Act act) {
  const std::span<const std::int32_t> next = successors.of(op);
  auto on = [&](std::int32_t id) { return plan_.ops()[id].gpu; };
  const auto first = std::partition_point(next.begin(), next.end(), [&](std::int32_t id) { return on(id) < gpu; });
  for (auto it = first; it != next.end() && on(*it) == gpu; ++it) act(*it);
}

template <class Act>
void DependencyRelease::rest(const Successors& successors, std::int32_t op, std::span<const std::int32_t> gpus,
                             bool parts_released, Act act) {
  for (std::int32_t next : successors.of(op)) {
    const std::int32_t gpu = plan_.ops()[next].gpu;
    const bool released_by_part = parts_released && gpu >= 0 && std::binary_search(gpus.begin(), gpus.end(), gpu);
    if (!released_by_part) act(next);
  }
}

void DependencyRelease::part_done(std::int32_t op, std::int32_t gpu, std::vector<std::int32_t>& ready) {
  on_gpu(successors_, op, gpu, [&](std::int32_t next) { release(next, ready); });
  on_gpu(streamers_, op, gpu, [&](std::int32_t next) { stream_ended(next); });
}

void DependencyRelease::all_to_all_done(std::int32_t op, std::span<const std::int32_t> gpus, bool parts_released,
                                        std::vector<std::int32_t>& ready) {
  rest(successors_, op, gpus, parts_released, [&](std::int32_t next) { release(next, ready); });
  rest(streamers_, op, gpus, parts_released, [&](std::int32_t next) { stream_ended(next); });
}

}  // namespace comet
