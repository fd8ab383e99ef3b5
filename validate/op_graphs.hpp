// CUDA graphs for the ops that launch many small kernels. An expert op of DeepSeek-V3 on one
// GPU is 128 experts x (2 GEMMs + 1 activation) plus the lane events: about 400 launches of
// 10-30 us kernels, where the host's launch cost is as long as the GPU's work. Captured once
// (the first time the op is enqueued: a warm-up run) and replayed after that, the same kernels
// run without it (2 x H200 notes in docs/validation.md). The buffers an op touches must not move
// between runs: the RankRunner's layer buffers live as long as it does.
#pragma once

#include <cuda_runtime.h>

#include <functional>
#include <unordered_map>

namespace comet {

class OpGraphs {
 public:
  /// enabled = false: every launch enqueues the work directly (no capture).
  explicit OpGraphs(bool enabled);
  ~OpGraphs();
  OpGraphs(const OpGraphs&) = delete;
  OpGraphs& operator=(const OpGraphs&) = delete;

  /// Captures what `enqueue(stream)` enqueues into a graph for `key` (on a private stream; streams
  /// it forks join the capture) and instantiates it, unless `key` has one already. Call it before
  /// recording the op's start event: capturing takes host time, not GPU time.
  void prepare(int key, const std::function<void(cudaStream_t)>& enqueue);
  /// Runs what `enqueue(stream)` enqueues, in `into`'s order: `key`'s graph (prepared now if it
  /// was not), or, disabled, the enqueue itself. Throws GpuError when CUDA refuses.
  void launch(int key, cudaStream_t into, const std::function<void(cudaStream_t)>& enqueue);

 private:
  bool enabled_;
  cudaStream_t capture_ = nullptr;
  std::unordered_map<int, cudaGraphExec_t> graphs_;
};

}  // namespace comet
