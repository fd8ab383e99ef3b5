#include "simgrid_scheduler.hpp"

#include <simgrid/kernel/Timer.hpp>
#include <simgrid/s4u.hpp>

#include <algorithm>

namespace comet {

OpScheduler::OpScheduler(const Plan& plan, const CostModel& model, std::vector<double> compute_s,
                         std::function<void(std::int32_t)> start_all_to_all)
    : plan_(plan), compute_s_(std::move(compute_s)), start_all_to_all_(std::move(start_all_to_all)),
      times_(2 * plan.ops().size(), 0.0), successors_(successors_of(plan)), pending_(plan.ops().size()),
      streams_(plan.header().num_gpus, model) {
  for (const Op& op : plan.ops()) pending_[op.id] = static_cast<int>(plan.deps(op.id).size());
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
  const auto [begin, end] = streams_.schedule(op, compute_s_[id], now);
  times_[2 * id] = begin;
  simgrid::kernel::timer::Timer::set(end, [this, id] { finish(id); });
}

void OpScheduler::finish(std::int32_t id) {
  times_[2 * id + 1] = simgrid::s4u::Engine::get_clock();
  for (std::int32_t next : successors_.of(id))
    if (--pending_[next] == 0) start_op(next);
}

void OpScheduler::communication_begins(const std::vector<std::int32_t>& gpus) { streams_.communication_begins(gpus); }

void OpScheduler::all_to_all_done(std::int32_t op, const std::vector<std::int32_t>& gpus) {
  streams_.communication_ends(gpus);
  finish(op);
}

double OpScheduler::compute_left_s(const std::vector<std::int32_t>& gpus) const {
  return streams_.compute_left_s(gpus, simgrid::s4u::Engine::get_clock());
}

}  // namespace comet
