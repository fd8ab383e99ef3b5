// Runs one Plan on one rank: the ops of schedule_rank (stream_schedule.hpp) are enqueued in plan
// order on their streams, after waiting for the listed events, each between a start and an end
// event. So chunk c+1's dispatch overlaps chunk c's GEMMs and chunk c-1's combine.
#pragma once

#include <cuda_runtime.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "expert_ffn.hpp"
#include "fused_expert_ops.hpp"
#include "layer_buffers.hpp"
#include "op_graphs.hpp"
#include "plan.hpp"
#include "rank_resources.hpp"
#include "stream_schedule.hpp"
#include "token_layout.hpp"

namespace comet {

/// A deliberate fault for tests of the watchdog: this rank skips its all-to-alls.
struct FaultInjection {
  int silent_rank = -1;
};

class RankRunner {
 public:
  /// `watchdog_s`: the run's watchdog (comet:B Plans: a fused kernel's wait gives up after an eighth of it).
  RankRunner(const Plan& plan, const TokenLayout& layout, const LayerDims& dims, RankResources& resources,
             LayerBuffers& buffers, double compute_sm_fraction, std::int64_t stand_in_cols, FaultInjection fault,
             double watchdog_s);
  ~RankRunner();
  RankRunner(const RankRunner&) = delete;
  RankRunner& operator=(const RankRunner&) = delete;

  /// Enqueues the whole plan after a base event; returns the event marking its end.
  cudaEvent_t enqueue();
  /// After the end event completed: (start, end) seconds of every op since the base event;
  /// (-1, -1) for ops this rank did not run.
  std::vector<std::pair<double, double>> op_times() const;
  /// After the end event completed: "" unless a fused kernel's wait gave up (comet:B), else what
  /// it saw (FusedExpertOps::watchdog_report).
  std::string fused_watchdog_report();

 private:
  cudaStream_t stream(StreamRole s) const;
  void launch(const Op& op, StreamRole role);
  /// The work of an expert op (captured as a graph), or an empty function for other ops.
  std::function<void(cudaStream_t)> expert_work(const Op& op);
  void gemm_op(const Op& op, int chunk, cudaStream_t s);
  /// A comet:B expert op: the fused launch of its direction and stage (FusedExpertOps).
  void fused_gemm_op(const Op& op, cudaStream_t s);
  void weight_gradient_op(cudaStream_t s);
  kernels::ExpertFfnGrads grads() const;
  /// Whether the expert GEMMs run grouped (ComputeSettings::expert_gemm; "auto" times both here).
  bool choose_grouped();
  /// Seconds chunk 0's expert forward takes on `compute`, grouped or per expert, launched
  /// through `graphs` (as the runs launch it).
  double time_forward_s(bool grouped, OpGraphs& graphs);
  void stand_in_gemms(const Op& op, std::int64_t cols, const bf16* weights, bf16* out);
  void all_to_all_op(int chunk, StreamRole role);
  void copy_self(const bf16* from, std::int64_t from_row, bf16* to, std::int64_t to_row, std::int64_t rows, cudaStream_t s);

  const Plan& plan_;
  const TokenLayout& layout_;
  LayerDims dims_;
  RankResources& res_;
  LayerBuffers& buf_;
  double sm_fraction_;
  int gemm_sms_ = 0;  // cublasSetSmCountTarget of the expert GEMMs this run (0 = all SMs)
  std::int64_t stand_in_cols_;
  FaultInjection fault_;
  std::vector<ScheduledOp> schedule_;
  // Per chunk, this rank's all-to-all pieces in bytes (computed once, not on the launch path).
  struct PieceBytes {
    std::vector<std::int64_t> send_at, send_bytes, recv_at, recv_bytes;
  };
  std::vector<PieceBytes> pieces_;
  std::vector<kernels::ExpertRows> chunk_rows_;  // per chunk: its experts' rows in the layer-wide buffers
  kernels::ExpertRows layer_rows_;               // every chunk's rows of each expert (the weight gradient)
  bool grouped_ = false;                         // expert GEMMs on res_.grouped (choose_grouped)
  std::vector<std::string> range_names_;  // NVTX range of each scheduled op
  std::vector<cudaEvent_t> start_, end_;  // per plan op; null for ops of other ranks
  cudaEvent_t base_ = nullptr, done_ = nullptr;
  OpGraphs graphs_;  // the expert ops, captured on their first run
  std::unique_ptr<FusedExpertOps> fused_;  // comet:B Plans (transfer blocks in the header): the expert GEMMs
};

}  // namespace comet
