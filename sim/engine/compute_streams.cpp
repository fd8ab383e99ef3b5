#include "compute_streams.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

namespace comet {

ComputeStreams::ComputeStreams(int num_gpus, const CostModel& model)
    : model_(model), free_at_(num_gpus, {0.0, 0.0, 0.0}), queued_(num_gpus), communications_(num_gpus, 0),
      transfers_slowed_(num_gpus, 0), memory_kernels_(num_gpus) {}

double ComputeStreams::slow_memory_kernels(std::int32_t gpu, double begin, double work_s, double now,
                                           std::vector<Retimed>& retimed) {
  auto& kernels = memory_kernels_[gpu];
  std::erase_if(kernels, [&](const MemoryKernel& k) { return k.end_s <= begin; });
  const double rho = model_.memory_kernel_rate_beside_compute, alpha = model_.memory_kernel_interference;
  // A side stream's kernels run one after another: one chain of alone work from where the compute
  // op meets its first (records are kept in schedule order, which is each stream's queue order).
  struct Chain {
    double from = 0.0, left = 0.0;
    std::vector<std::size_t> members;
  };
  std::array<Chain, NUM_STREAM_ROLES> chains;
  for (std::size_t i = 0; i < kernels.size(); ++i) {
    const double from = std::max(kernels[i].full_from_s, begin), left = kernels[i].end_s - from;
    if (!(left > 0.0)) continue;
    Chain& c = chains[static_cast<std::size_t>(kernels[i].stream)];
    if (c.members.empty()) c.from = from;
    c.left += left;
    c.members.push_back(i);
  }
  // The op's span D is its own work plus alpha x the chains' work done at rho beside it: the least
  // fixed point of a non-decreasing piecewise-linear function, found segment by segment between
  // the points where a chain starts or runs out beside it.
  auto span_of = [&](double d) {
    double beside = 0.0;
    for (const Chain& c : chains) beside += std::clamp(rho * (begin + d - c.from), 0.0, c.left);
    return work_s + alpha * beside;
  };
  std::vector<double> corners;
  for (const Chain& c : chains)
    if (!c.members.empty()) corners.insert(corners.end(), {c.from - begin, c.from - begin + c.left / rho});
  std::sort(corners.begin(), corners.end());
  double span = work_s, value = span_of(span);
  for (double corner : corners) {
    if (value <= span || corner <= span) continue;
    const double at_corner = span_of(corner);
    if (at_corner <= corner) {  // crosses within [span, corner], where the function is linear
      const double slope = (at_corner - value) / (corner - span);
      span += (value - span) / (1.0 - slope);
      value = span;
      break;
    }
    span = corner, value = at_corner;
  }
  span = std::max(span, value);  // past the last corner the function is constant
  // Each chain's kernels in order: at rho while the op runs (until begin + span), then alone.
  const double until = begin + span;
  double beside_total = 0.0;
  std::vector<std::pair<std::size_t, std::pair<double, double>>> moved;  // record, (full_from, end)
  for (const Chain& c : chains) {
    double t = c.from;
    for (std::size_t i : c.members) {
      const double start = t, left = kernels[i].end_s - std::max(kernels[i].full_from_s, begin);
      const double doable = std::max(0.0, rho * (until - t));
      t = left <= doable ? t + left / rho : std::max(t, until) + (left - doable);
      beside_total += std::min(left, doable);
      moved.push_back({i, {std::clamp(until, start, t), t}});
    }
  }
  for (const auto& [i, times] : moved)  // in order, so each move carries the kernels behind it
    if (times.second != kernels[i].end_s) move_end(gpu, kernels[i].stream, kernels[i].op, times.second, now, retimed);
  for (const auto& [i, times] : moved) kernels[i].full_from_s = times.first, kernels[i].end_s = times.second;
  return beside_total;
}

void ComputeStreams::charge_compute_stream(std::int32_t gpu, double at, double charge_s, double now, std::vector<Retimed>& retimed) {
  auto& queue = queued_[gpu][static_cast<std::size_t>(StreamRole::COMPUTE)];
  const auto running = std::find_if(queue.begin(), queue.end(), [&](const Scheduled& s) { return s.start_s <= at && at < s.end_s; });
  if (running != queue.end() && !running->held) return move_end(gpu, StreamRole::COMPUTE, running->op, running->end_s + charge_s, now, retimed);
  free_at_[gpu][static_cast<std::size_t>(StreamRole::COMPUTE)] += charge_s;  // its next op starts later
}

std::pair<double, double> ComputeStreams::schedule(const Op& op, double duration_s, double now, std::vector<Retimed>& retimed) {
  const bool slowable = op.compute_sm_fraction >= 1.0;
  const double rate = rate_of(op.gpu, slowable);
  duration_s /= rate;
  const StreamRole role = stream_of(op);
  auto& free_at = free_at_[op.gpu];
  double& stream_free = free_at[static_cast<std::size_t>(role)];
  const double begin = std::max(now, stream_free);
  const double alpha = model_.memory_kernel_interference;
  if (role == StreamRole::COMPUTE) {
    duration_s += alpha * slow_memory_kernels(op.gpu, begin, duration_s, now, retimed);
  } else {
    // Beside the compute stream's queued work the kernel runs at rho of its alone rate, and that
    // work lasts alpha x what the kernel does beside it longer (its next op starts later): the
    // busy window, window0 at first, becomes window0 + alpha x beside.
    const double compute_free = free_at[static_cast<std::size_t>(StreamRole::COMPUTE)];
    const double rho = model_.memory_kernel_rate_beside_compute;
    const double window0 = std::max(0.0, compute_free - begin);
    double beside = 0.0, window = 0.0, span = duration_s;
    if (window0 > 0.0) {
      if (rho * (window0 + alpha * duration_s) >= duration_s) {  // all of it beside
        beside = duration_s, window = window0 + alpha * duration_s, span = duration_s / rho;
      } else {  // then alpha x rho < 1
        window = window0 / (1.0 - alpha * rho), beside = rho * window, span = window + (duration_s - beside);
      }
    }
    if (beside > 0.0) charge_compute_stream(op.gpu, begin, alpha * beside, now, retimed);
    memory_kernels_[op.gpu].push_back({op.id, role, begin + std::min(window, span), begin + span});
    duration_s = span;
  }
  stream_free = begin + duration_s;
  auto& queue = queued_[op.gpu][static_cast<std::size_t>(role)];
  // An op ending exactly now stays queued: a streaming hold may still move its end (set_end).
  while (!queue.empty() && queue.front().end_s < now) queue.pop_front();
  queue.push_back({op.id, now, begin, begin + duration_s, rate, slowable});
  return {begin, begin + duration_s};
}

void ComputeStreams::retime(std::int32_t gpu, double now, std::vector<Retimed>& retimed) {
  for (std::size_t role = 0; role < NUM_STREAM_ROLES; ++role) {
    auto& queue = queued_[gpu][role];
    while (!queue.empty() && queue.front().end_s < now) queue.pop_front();
    double shift = 0.0;  // how much later (or earlier) the previous op of the stream now ends
    for (Scheduled& s : queue) {
      if (s.held) {  // its end waits for a producer, not for its work
        shift = 0.0;
        continue;
      }
      const double rate = rate_of(gpu, s.slowable);
      double start = s.start_s, end = 0.0;
      if (s.start_s <= now) {  // running: its work left at the new rate
        end = now + (s.end_s - now) * s.rate / rate;
      } else {  // queued: keeps its gap behind the previous op (or its ready time)
        start = std::max({s.ready_s, now, s.start_s + shift});
        end = start + (s.end_s - s.start_s) * s.rate / rate;
      }
      shift = end - s.end_s;
      if (start != s.start_s || end != s.end_s) retimed.push_back({s.op, start, end});
      follow_memory_kernel(gpu, s.op, start - s.start_s, end);
      s.start_s = start;
      s.end_s = end;
      s.rate = rate;
    }
    free_at_[gpu][role] += shift;
  }
}

void ComputeStreams::follow_memory_kernel(std::int32_t gpu, std::int32_t id, double start_shift_s, double end_s) {
  for (MemoryKernel& k : memory_kernels_[gpu])
    if (k.op == id) k.full_from_s = std::min(k.full_from_s + start_shift_s, end_s), k.end_s = end_s;
}

void ComputeStreams::set_end(const Op& op, double end_s, double now, std::vector<Retimed>& retimed) {
  move_end(op.gpu, stream_of(op), op.id, end_s, now, retimed);
}

void ComputeStreams::move_end(std::int32_t gpu, StreamRole role, std::int32_t id, double end_s, double now,
                              std::vector<Retimed>& retimed) {
  auto& queue = queued_[gpu][static_cast<std::size_t>(role)];
  auto it = std::find_if(queue.begin(), queue.end(), [&](const Scheduled& s) { return s.op == id; });
  if (it == queue.end()) throw std::logic_error("set_end: the op is not scheduled on its stream (it ended already)");
  double shift = end_s - it->end_s;
  it->end_s = end_s;
  it->held = end_s >= HELD_END_S;
  retimed.push_back({it->op, it->start_s, it->end_s});
  for (++it; it != queue.end() && it->start_s >= now; ++it) {  // queued behind it: keep their gaps
    const double start = std::max({it->ready_s, now, it->start_s + shift});
    const double end = start + (it->end_s - it->start_s);
    shift = end - it->end_s;
    follow_memory_kernel(gpu, it->op, start - it->start_s, end);
    it->start_s = start;
    it->end_s = end;
    retimed.push_back({it->op, start, end});
  }
  free_at_[gpu][static_cast<std::size_t>(role)] += shift;
}

void ComputeStreams::communication_begins(std::span<const std::int32_t> gpus, double now, std::vector<Retimed>& retimed) {
  for (std::int32_t gpu : gpus)
    if (communications_[gpu]++ == 0) retime(gpu, now, retimed);
}

void ComputeStreams::communication_ends(std::int32_t gpu, double now, std::vector<Retimed>& retimed) {
  if (--communications_[gpu] == 0) retime(gpu, now, retimed);
}

bool ComputeStreams::refresh_transfer_slowdown(std::int32_t gpu, double now) {
  const auto& compute = queued_[gpu][static_cast<std::size_t>(StreamRole::COMPUTE)];
  const bool computing = std::any_of(compute.begin(), compute.end(),
                                     [&](const Scheduled& s) { return s.slowable && s.end_s > now; });
  const char slowed = computing && communications_[gpu] > 0 ? 1 : 0;
  if (slowed == transfers_slowed_[gpu]) return false;
  transfers_slowed_[gpu] = slowed;
  return true;
}

}  // namespace comet
