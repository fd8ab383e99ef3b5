#include "compute_streams.hpp"

#include <algorithm>
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
  // Each kernel's alone work left from where the compute op meets it, done at rho while the op
  // runs, whose span is its own work plus alpha x that work: the fixed point of the span
  // (increasing, and bounded by every kernel's whole work).
  auto beside_s = [&](const MemoryKernel& k, double span) {
    const double from = std::max(k.full_from_s, begin);
    return std::clamp(rho * (begin + span - from), 0.0, std::max(0.0, k.end_s - from));
  };
  double span = work_s;
  for (int round = 0; round < 200; ++round) {
    double beside = 0.0;
    for (const MemoryKernel& k : kernels) beside += beside_s(k, span);
    const double next = work_s + alpha * beside;
    if (next - span <= 1e-12 * next) {
      span = next;
      break;
    }
    span = next;
  }
  double beside_total = 0.0;
  for (MemoryKernel& k : kernels) {
    const double from = std::max(k.full_from_s, begin), left = k.end_s - from, beside = beside_s(k, span);
    if (!(beside > 0.0)) continue;
    beside_total += beside;
    const double end = beside < left ? begin + span + (left - beside) : from + left / rho;
    k.full_from_s = std::min(begin + span, end);
    if (end == k.end_s) continue;
    k.end_s = end;
    move_end(gpu, k.stream, k.op, end, now, retimed);  // its record kept in step with its queue entry
  }
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
