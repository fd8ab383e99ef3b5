// Parallel lanes for the experts' small GEMMs. One GEMM of a few hundred rows fills only part of
// an H100/H200 (M = 256 rows in 128-row tiles: 2 x N/256 thread blocks for 132 SMs), so a loop of
// per-expert GEMMs on one stream leaves most SMs idle. With lanes, expert e runs on lane
// e % lanes: its own stream and cuBLAS handle (a handle's workspace must not be shared by
// concurrent streams), forked from the caller's stream and joined back into it.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

namespace comet::kernels {

class ExpertLanes {
 public:
  /// `lanes` streams (at the priority of the streams they fork from: pass it) and handles.
  /// Throws std::runtime_error (after releasing what it made) when CUDA or cuBLAS refuse.
  ExpertLanes(int lanes, int priority);
  ~ExpertLanes() { release(); }
  ExpertLanes(const ExpertLanes&) = delete;
  ExpertLanes& operator=(const ExpertLanes&) = delete;

  int size() const { return static_cast<int>(streams_.size()); }
  /// Expert `expert`'s lane: its stream, and the cuBLAS handle bound to that stream.
  cudaStream_t stream_of(int expert) const { return streams_[lane_of(expert)]; }
  cublasHandle_t handle_of(int expert) const { return handles_[lane_of(expert)]; }
  /// Every lane waits for the work enqueued on `from` so far.
  cudaError_t fork(cudaStream_t from);
  /// `into` waits for the work enqueued on every lane so far.
  cudaError_t join(cudaStream_t into);
  /// cublasSetSmCountTarget on every lane (0 = all SMs): each GEMM is sized for `sms` SMs. The
  /// lanes are not split: several lanes' GEMMs at once may still fill the GPU (giving each lane
  /// sms / lanes made every pipelined policy slower on an H200: BENCHMARKS.md).
  cublasStatus_t set_sm_count_target(int sms);

 private:
  std::vector<cudaStream_t> streams_;
  std::vector<cublasHandle_t> handles_;
  std::vector<cudaEvent_t> done_;
  cudaEvent_t forked_ = nullptr;

  void release();
  std::size_t lane_of(int expert) const { return static_cast<std::size_t>(expert) % streams_.size(); }
};

}  // namespace comet::kernels
