// What one rank (one GPU, one host thread) holds for the whole validation: its streams, NCCL
// communicators and cuBLAS handle. Two communicators, because dispatch-side and combine-side
// all-to-alls of different chunks run at the same time on different streams, and NCCL needs
// the operations on one communicator issued in the same order on every rank.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <nccl.h>

#include <memory>
#include <string>

#include "expert_lanes.hpp"
#include "grouped_gemm.hpp"

namespace comet {

struct CommSettings {
  int max_ctas = 0;  ///< NCCL maxCTAs (and minCTAs, when it is lower): SMs communication may take; 0 = NCCL's choice
};

/// How the experts' GEMMs run: on the compute stream alone (1) or spread over this many lanes
/// (kernels/expert_lanes.hpp), forked from the compute stream.
struct ComputeSettings {
  int expert_lanes = 4;
  /// Expert ops captured as CUDA graphs on their first run and replayed (validate/op_graphs.hpp).
  bool op_graphs = true;
  /// > 0: SMs the expert GEMMs of pipelined policies (more than one chunk) may use, leaving the
  /// others to the NCCL kernels running beside them; 0: the Plan's share.
  int pipeline_gemm_sms = 0;
  /// The experts' GEMMs: "cublas" (one GEMM per expert, on the lanes), "grouped" (one CUTLASS
  /// grouped GEMM per projection, kernels/grouped_gemm.hpp), or "auto": each rank times both on
  /// its own experts' rows before the first run and keeps the faster (cublas where grouped
  /// cannot run). auto times chunk 0's forward, launched as the runs launch it (graphs or not).
  std::string expert_gemm = "auto";
};

class RankResources {
 public:
  /// Selects `device`, creates streams (communication streams at high priority), a cuBLAS
  /// handle, and joins both communicators (collective: every rank must call it).
  RankResources(int device, int rank, int num_ranks, const ncclUniqueId& dispatch_id, const ncclUniqueId& combine_id,
                const CommSettings& settings, const ComputeSettings& compute_settings);
  ~RankResources();
  RankResources(const RankResources&) = delete;
  RankResources& operator=(const RankResources&) = delete;

  /// Aborts both communicators (a watchdog's last resort: NCCL kernels stop waiting for peers).
  void abort_communicators();
  /// The first asynchronous NCCL error of either communicator, or ncclSuccess.
  ncclResult_t async_error() const;

  int device, rank, num_ranks, sm_count = 0;
  cudaStream_t compute = nullptr, dispatch = nullptr, combine = nullptr;
  ncclComm_t dispatch_comm = nullptr, combine_comm = nullptr;
  cublasHandle_t cublas = nullptr;
  std::unique_ptr<kernels::ExpertLanes> lanes;  ///< null: expert GEMMs on `compute` alone
  /// The grouped GEMM (its memory reserved), unless expert_gemm is "cublas" or it cannot run here.
  std::unique_ptr<kernels::GroupedGemm> grouped;
  ComputeSettings compute_settings;              ///< as given (the runners read graphs and SM shares here)

 private:
  bool aborted_ = false;
};

}  // namespace comet
