// Runs one Plan on one rank: every op that concerns this rank (its compute ops, its group's
// all-to-alls) is enqueued in plan order on one of three streams, after waiting for the events
// of its dependencies that ran on other streams, between a start and an end event.
//   compute stream   expert GEMMs, router, non-MoE stand-ins
//   dispatch stream  forward permute + dispatch all-to-all; backward unpermute + combine-grad
//   combine stream   forward combine + unpermute; backward dispatch-grad + permute
// So chunk c+1's dispatch overlaps chunk c's GEMMs and chunk c-1's combine. Staging buffers
// are double-buffered (chunk c uses slot c % 2); the extra waits that makes necessary are
// added here (a slot is rewritten only after the chunk two back has finished reading it).
#pragma once

#include <cuda_runtime.h>

#include <string>
#include <utility>
#include <vector>

#include "layer_buffers.hpp"
#include "plan.hpp"
#include "rank_resources.hpp"
#include "token_layout.hpp"

namespace comet {

/// A deliberate fault for tests of the watchdog: this rank skips its all-to-alls.
struct FaultInjection {
  int silent_rank = -1;
};

class RankRunner {
 public:
  RankRunner(const Plan& plan, const TokenLayout& layout, const LayerDims& dims, RankResources& resources,
             LayerBuffers& buffers, double compute_sm_fraction, std::int64_t stand_in_cols, FaultInjection fault);
  ~RankRunner();
  RankRunner(const RankRunner&) = delete;
  RankRunner& operator=(const RankRunner&) = delete;

  /// Enqueues the whole plan after a base event; returns the event marking its end.
  cudaEvent_t enqueue();
  /// After the end event completed: (start, end) seconds of every op since the base event;
  /// (-1, -1) for ops this rank did not run.
  std::vector<std::pair<double, double>> op_times() const;

 private:
  enum Stream { COMPUTE, DISPATCH, COMBINE };
  Stream stream_of(const Op& op) const;
  cudaStream_t stream(Stream s) const;
  bool runs_here(const Op& op) const;
  void wait_for(const Op& op, Stream s);
  void launch(const Op& op);
  void gemm_op(const Op& op, int chunk);
  void stand_in_gemms(const Op& op, std::int64_t cols, const bf16* weights, bf16* out);
  void all_to_all_op(const Op& op, int chunk);
  void copy_self(const bf16* from, std::int64_t from_row, bf16* to, std::int64_t to_row, std::int64_t rows, cudaStream_t s);

  const Plan& plan_;
  const TokenLayout& layout_;
  LayerDims dims_;
  RankResources& res_;
  LayerBuffers& buf_;
  double sm_fraction_;
  std::int64_t stand_in_cols_;
  FaultInjection fault_;
  std::vector<cudaEvent_t> start_, end_;
  std::vector<char> ran_;
  std::vector<Stream> stream_used_;
  cudaEvent_t base_ = nullptr, done_ = nullptr;
  // Per direction and chunk: this rank's expert GEMM op and its last receive-side op.
  std::vector<std::vector<std::int32_t>> gemm_of_, receive_end_of_;
};

}  // namespace comet
