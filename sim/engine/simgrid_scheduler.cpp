#include "simgrid_scheduler.hpp"

#include <simgrid/kernel/Timer.hpp>
#include <simgrid/s4u.hpp>

#include <algorithm>

namespace comet {

OpScheduler::OpScheduler(const Plan& plan, const CostModel& model, std::vector<double> compute_s,
                         std::function<void(std::int32_t)> start_all_to_all)
    : plan_(plan), model_(model), compute_s_(std::move(compute_s)), start_all_to_all_(std::move(start_all_to_all)),
      times_(2 * plan.ops().size(), 0.0), pending_(plan.ops().size()), successor_start_(plan.ops().size() + 1, 0),
      gpu_free_(plan.header().num_gpus, 0.0), comm_active_(plan.header().num_gpus, 0) {
  for (const Op& op : plan.ops())
    for (std::int32_t dep : plan.deps(op.id)) ++successor_start_[dep + 1];
  for (std::size_t i = 1; i < successor_start_.size(); ++i) successor_start_[i] += successor_start_[i - 1];
  successors_.resize(successor_start_.back());
  std::vector<std::size_t> fill(successor_start_.begin(), successor_start_.end() - 1);
  for (const Op& op : plan.ops()) {
    pending_[op.id] = static_cast<int>(plan.deps(op.id).size());
    for (std::int32_t dep : plan.deps(op.id)) successors_[fill[dep]++] = op.id;
  }
}

void OpScheduler::start(const std::vector<bool>& included) {
  for (const Op& op : plan_.ops())
    if (pending_[op.id] == 0 && (included.empty() || included[op.id])) start_op(op.id);
}

void OpScheduler::start_op(std::int32_t id) {
  const Op& op = plan_.ops()[id];
  const double now = simgrid::s4u::Engine::get_clock();
  if (op.kind == OpKind::ALL_TO_ALL) {
    times_[2 * id] = now;
    start_all_to_all_(id);
    return;
  }
  double duration = compute_s_[id];
  if (comm_active_[op.gpu] > 0 && op.compute_sm_fraction >= 1.0) duration /= 1.0 - model_.comm_sm_share;
  const double begin = std::max(now, gpu_free_[op.gpu]);
  times_[2 * id] = begin;
  gpu_free_[op.gpu] = begin + duration;
  simgrid::kernel::timer::Timer::set(begin + duration, [this, id] { finish(id); });
}

void OpScheduler::finish(std::int32_t id) {
  times_[2 * id + 1] = simgrid::s4u::Engine::get_clock();
  for (std::size_t s = successor_start_[id]; s < successor_start_[id + 1]; ++s)
    if (--pending_[successors_[s]] == 0) start_op(successors_[s]);
}

void OpScheduler::communication_begins(const std::vector<std::int32_t>& gpus) {
  for (std::int32_t gpu : gpus) ++comm_active_[gpu];
}

void OpScheduler::all_to_all_done(std::int32_t op, const std::vector<std::int32_t>& gpus) {
  for (std::int32_t gpu : gpus) --comm_active_[gpu];
  finish(op);
}

bool OpScheduler::gemms_running(const std::vector<std::int32_t>& gpus) const {
  const double now = simgrid::s4u::Engine::get_clock();
  return std::any_of(gpus.begin(), gpus.end(), [&](std::int32_t g) { return gpu_free_[g] > now; });
}

}  // namespace comet
