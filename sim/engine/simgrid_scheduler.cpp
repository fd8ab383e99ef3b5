#include "simgrid_scheduler.hpp"

#include <simgrid/kernel/Timer.hpp>
#include <simgrid/s4u.hpp>

#include <algorithm>
#include <utility>
#include <stdexcept>

namespace comet {

OpScheduler::OpScheduler(const Plan& plan, const CostModel& model, std::vector<double> compute_s,
                         std::function<void(std::int32_t)> start_all_to_all,
                         std::function<void(std::int32_t, bool)> slow_transfers)
    : plan_(plan), compute_s_(std::move(compute_s)), start_all_to_all_(std::move(start_all_to_all)),
      slow_transfers_(std::move(slow_transfers)),
      times_(2 * plan.ops().size(), 0.0), parts_(plan.ops().size()), release_(plan),
      timer_version_(plan.ops().size(), 0), streams_(plan.header().num_gpus, model), scheduled_(plan.ops().size(), 0),
      floors_(plan, model, release_), start_version_(plan.ops().size(), 0), kept_(plan.has_streaming() ? plan.ops().size() : 0) {}

void OpScheduler::start(const std::vector<bool>& included) {
  for (std::int32_t id : release_.roots())
    if (included.empty() || included[id]) start_op(id);
}

void OpScheduler::start_op(std::int32_t id) {
  const Op& op = plan_.ops()[id];
  const double now = simgrid::s4u::Engine::get_clock();
  if (op.kind == OpKind::ALL_TO_ALL) {
    times_[2 * id] = now;
    start_all_to_all_(id);
  } else {
    const auto [begin, end] = streams_.schedule(op, compute_s_[id], now, retimed_);
    apply_retimed();  // the memory kernels a computation slows
    times_[2 * id] = begin;
    scheduled_[id] = 1;
    if (end < floors_.floor(id)) {  // its producers ended while its other inputs kept it
      set_end(id, floors_.floor(id));
    } else {
      arm(id, end);
    }
    refresh_slowdown(op.gpu);
    if (begin > now && release_.streamed_from(id)) return arm_start(id, begin);  // queued on its stream
  }
  release_streamers(id);
}

void OpScheduler::release_streamers(std::int32_t id) {
  start_version_[id] = 0;
  release_.started(id, ready_);  // what streams from it starts with it
  start_ready();
}

void OpScheduler::arm_start(std::int32_t id, double start_s) {
  const std::uint64_t version = ++start_timers_;
  start_version_[id] = version;
  simgrid::kernel::timer::Timer::set(start_s, [this, id, version] {
    if (version == start_version_[id]) release_streamers(id);
  });
}

void OpScheduler::reached_end(std::int32_t id) {
  const double now = simgrid::s4u::Engine::get_clock();
  if (const double end = floors_.end_at(id, now); end > now) return set_end(id, end);
  finish(id);
}

void OpScheduler::set_end(std::int32_t id, double end_s) {
  streams_.set_end(plan_.ops()[id], end_s, simgrid::s4u::Engine::get_clock(), retimed_);
  apply_retimed();
}

void OpScheduler::handle_stream_ends() {
  const double now = simgrid::s4u::Engine::get_clock();
  for (std::int32_t id : release_.take_stream_ends()) {
    const double floor = floors_.producers_ended(id, now);
    if (plan_.ops()[id].kind == OpKind::ALL_TO_ALL) {
      simgrid::kernel::timer::Timer::set(floor, [this, id] { replay(id); });
    } else if (scheduled_[id] && floors_.must_move(id, times_[2 * id + 1])) {
      set_end(id, floor);
    }
  }
}

bool OpScheduler::gated(std::int32_t op) const { return floors_.gated(op, simgrid::s4u::Engine::get_clock()); }

void OpScheduler::replay(std::int32_t op) {
  Kept kept = std::exchange(kept_[op], {});
  for (std::int32_t gpu : kept.parts) end_part(op, gpu);
  if (kept.done) end_all_to_all(op, kept.gpus);
}

void OpScheduler::refresh_slowdown(std::int32_t gpu) {
  if (streams_.refresh_transfer_slowdown(gpu, simgrid::s4u::Engine::get_clock()))
    slow_transfers_(gpu, streams_.transfers_slowed(gpu));
}

void OpScheduler::arm(std::int32_t id, double end_s) {
  const std::uint64_t version = ++timer_version_[id];
  times_[2 * id + 1] = end_s;  // as it stands (a held op: HELD_END_S); the timer that fires sets it again
  if (end_s >= HELD_END_S) return;  // held: no timer until its release sets an end
  simgrid::kernel::timer::Timer::set(end_s, [this, id, version] {
    if (version == timer_version_[id]) reached_end(id);
  });
}

void OpScheduler::apply_retimed() {
  for (const Retimed& r : retimed_) {
    if (start_version_[r.op] != 0 && r.start_s != times_[2 * r.op]) arm_start(r.op, r.start_s);
    times_[2 * r.op] = r.start_s;
    arm(r.op, r.end_s);
  }
  retimed_.clear();
}

// Ops made ready start now, in the order they were released.
void OpScheduler::start_ready() {
  std::vector<std::int32_t> ready;
  ready.swap(ready_);
  for (std::int32_t next : ready) start_op(next);
}

void OpScheduler::finish(std::int32_t id) {
  times_[2 * id + 1] = simgrid::s4u::Engine::get_clock();
  refresh_slowdown(plan_.ops()[id].gpu);
  release_.computation_done(id, ready_);
  handle_stream_ends();
  start_ready();
}

void OpScheduler::communication_begins(std::span<const std::int32_t> gpus) {
  streams_.communication_begins(gpus, simgrid::s4u::Engine::get_clock(), retimed_);
  apply_retimed();
  for (std::int32_t gpu : gpus) refresh_slowdown(gpu);
}

void OpScheduler::part_done(std::int32_t op, std::int32_t gpu) {
  if (!kept_.empty() && gated(op)) return kept_[op].parts.push_back(gpu);
  end_part(op, gpu);
}

void OpScheduler::all_to_all_done(std::int32_t op, std::span<const std::int32_t> gpus) {
  if (!kept_.empty() && gated(op)) {
    kept_[op].done = true;
    kept_[op].gpus.assign(gpus.begin(), gpus.end());
    return;
  }
  end_all_to_all(op, gpus);
}

void OpScheduler::end_part(std::int32_t op, std::int32_t gpu) {
  parts_[op].push_back({gpu, simgrid::s4u::Engine::get_clock()});
  streams_.communication_ends(gpu, simgrid::s4u::Engine::get_clock(), retimed_);
  apply_retimed();
  refresh_slowdown(gpu);
  release_.part_done(op, gpu, ready_);
  handle_stream_ends();
  start_ready();
}

void OpScheduler::end_all_to_all(std::int32_t op, std::span<const std::int32_t> gpus) {
  const bool parts_reported = !parts_[op].empty();
  if (!parts_reported)
    for (std::int32_t gpu : gpus) streams_.communication_ends(gpu, simgrid::s4u::Engine::get_clock(), retimed_);
  apply_retimed();
  if (!parts_reported)
    for (std::int32_t gpu : gpus) refresh_slowdown(gpu);
  times_[2 * op + 1] = simgrid::s4u::Engine::get_clock();
  release_.all_to_all_done(op, gpus, parts_reported, ready_);
  handle_stream_ends();
  start_ready();
}

std::vector<double> OpScheduler::times() const {
  std::vector<double> out = times_;
  for (std::size_t op = 0; op < parts_.size(); ++op) {
    if (parts_[op].empty()) continue;
    std::vector<GpuPartEnd> parts = parts_[op];
    std::sort(parts.begin(), parts.end(), [](const GpuPartEnd& a, const GpuPartEnd& b) { return a.gpu < b.gpu; });
    out.push_back(static_cast<double>(op));
    out.push_back(static_cast<double>(parts.size()));
    for (const GpuPartEnd& part : parts) {
      out.push_back(part.gpu);
      out.push_back(part.end_s);
    }
  }
  return out;
}

void apply_times(const std::vector<double>& times, const std::vector<bool>& included, Timeline& timeline) {
  const std::size_t ops = timeline.ops.size();
  if (times.size() < 2 * ops) throw std::runtime_error("a simulation sent back fewer op times than the plan has ops");
  for (std::size_t i = 0; i < ops; ++i) {
    if (!included.empty() && !included[i]) continue;
    timeline.ops[i].start_s = times[2 * i];
    timeline.ops[i].end_s = times[2 * i + 1];
  }
  for (std::size_t at = 2 * ops; at + 1 < times.size();) {
    const auto op = static_cast<std::size_t>(times[at]);
    const auto count = static_cast<std::size_t>(times[at + 1]);
    at += 2;
    if (timeline.gpu_part_ends.size() != ops) timeline.gpu_part_ends.resize(ops);
    std::vector<GpuPartEnd>& parts = timeline.gpu_part_ends.at(op);
    parts.clear();
    for (std::size_t p = 0; p < count && at + 1 < times.size(); ++p, at += 2)
      parts.push_back({static_cast<std::int32_t>(times[at]), times[at + 1]});
  }
}

}  // namespace comet
