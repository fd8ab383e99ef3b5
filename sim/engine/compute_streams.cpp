#include "compute_streams.hpp"

#include <algorithm>
#include <stdexcept>

namespace comet {

ComputeStreams::ComputeStreams(int num_gpus, const CostModel& model)
    : model_(model), free_at_(num_gpus, {0.0, 0.0, 0.0}), queued_(num_gpus), communications_(num_gpus, 0),
      transfers_slowed_(num_gpus, 0), memory_kernels_(num_gpus) {}

double ComputeStreams::memory_overlap_s(std::int32_t gpu, double begin, double end) {
  auto& kernels = memory_kernels_[gpu];
  std::erase_if(kernels, [&](const std::pair<double, double>& k) { return k.second <= begin; });
  double overlap = 0.0;
  for (const auto& [from, to] : kernels) overlap += std::max(0.0, std::min(to, end) - std::max(from, begin));
  return overlap;
}

std::pair<double, double> ComputeStreams::schedule(const Op& op, double duration_s, double now) {
  const bool slowable = op.compute_sm_fraction >= 1.0;
  const double rate = rate_of(op.gpu, slowable);
  duration_s /= rate;
  const StreamRole role = stream_of(op);
  auto& free_at = free_at_[op.gpu];
  double& stream_free = free_at[static_cast<std::size_t>(role)];
  const double begin = std::max(now, stream_free);
  const double alpha = model_.memory_kernel_interference;
  if (alpha > 0.0 && role == StreamRole::COMPUTE) {
    duration_s += alpha * memory_overlap_s(op.gpu, begin, begin + duration_s);
  } else if (alpha > 0.0) {
    // The compute stream's work already queued beside this kernel loses the overlap.
    double& compute_free = free_at[static_cast<std::size_t>(StreamRole::COMPUTE)];
    compute_free += alpha * std::max(0.0, std::min(begin + duration_s, compute_free) - begin);
    memory_kernels_[op.gpu].emplace_back(begin, begin + duration_s);
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
      s.start_s = start;
      s.end_s = end;
      s.rate = rate;
    }
    free_at_[gpu][role] += shift;
  }
}

void ComputeStreams::set_end(const Op& op, double end_s, double now, std::vector<Retimed>& retimed) {
  auto& queue = queued_[op.gpu][static_cast<std::size_t>(stream_of(op))];
  auto it = std::find_if(queue.begin(), queue.end(), [&](const Scheduled& s) { return s.op == op.id; });
  if (it == queue.end()) throw std::logic_error("set_end: the op is not scheduled on its stream (it ended already)");
  double shift = end_s - it->end_s;
  it->end_s = end_s;
  it->held = end_s >= HELD_END_S;
  retimed.push_back({it->op, it->start_s, it->end_s});
  for (++it; it != queue.end() && it->start_s >= now; ++it) {  // queued behind it: keep their gaps
    const double start = std::max({it->ready_s, now, it->start_s + shift});
    const double end = start + (it->end_s - it->start_s);
    shift = end - it->end_s;
    it->start_s = start;
    it->end_s = end;
    retimed.push_back({it->op, start, end});
  }
  free_at_[op.gpu][static_cast<std::size_t>(stream_of(op))] += shift;
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
