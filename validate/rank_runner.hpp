// Runs one Plan on one rank: the ops of schedule_rank (stream_schedule.hpp) are enqueued in plan
// order on their streams, after waiting for the listed events, each between a start and an end
// event. So chunk c+1's dispatch overlaps chunk c's GEMMs and chunk c-1's combine.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "expert_ffn.hpp"
#include "fused_expert_ops.hpp"
#include "fused_rank_order.hpp"
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

/// comet:B between GPUs (a thread per GPU in one process): every rank's buffers, which the fused
/// launches read and write through peer pointers, and where the ranks post the events their
/// launches and the ops beside them wait for (fused_rank_order.hpp).
struct FusedPeers {
  std::vector<LayerBuffers*> buffers;            ///< per rank
  MilestoneBoard<cudaEvent_t>* board = nullptr;
  const std::atomic<bool>* failed = nullptr;     ///< set: another rank failed (waits give up)
  std::uint64_t* run = nullptr;                  ///< this rank's run counter (the same sequence on every rank)
};

class RankRunner {
 public:
  /// `watchdog_s`: the run's watchdog (comet:B Plans: a fused kernel's wait gives up after an eighth of it).
  /// `peers`: comet:B Plans on more than one GPU (null otherwise).
  RankRunner(const Plan& plan, const TokenLayout& layout, const LayerDims& dims, RankResources& resources,
             LayerBuffers& buffers, double compute_sm_fraction, std::int64_t stand_in_cols, FaultInjection fault,
             double watchdog_s, const FusedPeers* peers = nullptr);
  ~RankRunner();
  RankRunner(const RankRunner&) = delete;
  RankRunner& operator=(const RankRunner&) = delete;

  /// Enqueues the whole plan after a base event; returns the event marking its end. The base event
  /// follows a one-element all-reduce over the ranks (on the compute stream, before anything else
  /// of the run uses the communicators), so every rank's base is the instant that collective
  /// completed: the ranks' op times share one origin (up to the collective's own skew, microseconds)
  /// instead of each rank's release from the host barrier plus its launch delays.
  cudaEvent_t enqueue();
  /// After the end event completed: (start, end) seconds of every op since the base event;
  /// (-1, -1) for ops this rank did not run. comet:B: an all-to-all op is when the transfer blocks
  /// of its fused launch ran (their %globaltimer stamps, placed on the events' time line by a
  /// stamp enqueued right after the base event: within half the gap between the two, a few us).
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
  /// comet:B, after the run: the %globaltimer stamp taken right after the base event, and when it
  /// was, seconds since that event.
  struct TimerStamp {
    unsigned long long ns = 0;
    double s = 0.0;
  };
  TimerStamp timer_stamp() const;
  /// comet:B: (start, end) seconds since the base event of the transfer blocks of the fused launch
  /// that moves all-to-all `op`'s rows (dispatch stream: the pass's first launch, combine stream:
  /// its second), or nullopt when no transfer block ran.
  std::optional<std::pair<double, double>> fused_transfer_times(const Op& op, StreamRole role, const TimerStamp& stamp) const;
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
  cudaEvent_t stamped_ = nullptr;                // comet:B: right after the %globaltimer stamp
  unsigned long long* stamp_ns_ = nullptr;       // comet:B: %globaltimer right after the base event (device)
  float* common_start_ = nullptr;                // the one element the ranks all-reduce before the base event
  OpGraphs graphs_;  // the expert ops, captured on their first run
  std::unique_ptr<FusedExpertOps> fused_;  // comet:B Plans (transfer blocks in the header): the expert GEMMs
  const FusedPeers* peers_ = nullptr;      // comet:B between GPUs
  std::uint64_t run_ = 0;                  // this enqueue's run (peers_->run)
};

}  // namespace comet
