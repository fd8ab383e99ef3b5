#include "compute_streams.hpp"

#include <algorithm>

namespace comet {

ComputeStreams::ComputeStreams(int num_gpus, const CostModel& model)
    : model_(model), free_at_(num_gpus, {0.0, 0.0, 0.0}), communications_(num_gpus, 0), memory_kernels_(num_gpus) {}

double ComputeStreams::memory_overlap_s(std::int32_t gpu, double begin, double end) {
  auto& kernels = memory_kernels_[gpu];
  std::erase_if(kernels, [&](const std::pair<double, double>& k) { return k.second <= begin; });
  double overlap = 0.0;
  for (const auto& [from, to] : kernels) overlap += std::max(0.0, std::min(to, end) - std::max(from, begin));
  return overlap;
}

std::pair<double, double> ComputeStreams::schedule(const Op& op, double duration_s, double now) {
  if (communications_[op.gpu] > 0 && op.compute_sm_fraction >= 1.0) duration_s /= 1.0 - model_.comm_sm_share;
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
  return {begin, begin + duration_s};
}

void ComputeStreams::communication_begins(std::span<const std::int32_t> gpus) {
  for (std::int32_t gpu : gpus) ++communications_[gpu];
}

double ComputeStreams::compute_left_s(const std::vector<std::int32_t>& gpus, double now) const {
  double left = 0.0;
  for (std::int32_t gpu : gpus) left = std::max(left, free_at_[gpu][0] - now);
  return left;
}

double interference_stretch(const CostModel& model, double compute_left_s, double alone_s) {
  if (compute_left_s <= 0.0 || alone_s <= 0.0) return 1.0;
  // During the computation it moves at (1 - s) of its rate: s x compute_left_s of progress lost,
  // up to the whole transfer slowed (compute lasting alone / (1 - s) or longer).
  const double s = model.comm_slowdown_with_compute;
  return 1.0 + s * std::min(compute_left_s, alone_s / (1.0 - s)) / alone_s;
}

bool ComputeStreams::gemms_running(const std::vector<std::int32_t>& gpus, double now) const {
  return std::any_of(gpus.begin(), gpus.end(), [&](std::int32_t gpu) { return busy(gpu, now); });
}

}  // namespace comet
