#include "rank_resources.hpp"

#include <fmt/format.h>

#include "all_to_all_v.hpp"
#include "gpu_error.hpp"

namespace comet {

RankResources::RankResources(int device_, int rank_, int num_ranks_, const ncclUniqueId& dispatch_id,
                             const ncclUniqueId& combine_id, const CommSettings& settings,
                             const ComputeSettings& compute_settings_)
    : device(device_), rank(rank_), num_ranks(num_ranks_), compute_settings(compute_settings_) {
  check_cuda(cudaSetDevice(device), fmt::format("select GPU {}", device));
  check_cuda(cudaDeviceGetAttribute(&sm_count, cudaDevAttrMultiProcessorCount, device), "query SM count");
  int lowest = 0, highest = 0;
  check_cuda(cudaDeviceGetStreamPriorityRange(&lowest, &highest), "query stream priorities");
  check_cuda(cudaStreamCreateWithPriority(&compute, cudaStreamNonBlocking, lowest), "create compute stream");
  // Communication at high priority: its kernels get SMs as soon as GEMM blocks retire
  // (shared/notes: without it GEMMs that fill every SM leave NCCL nowhere to run).
  check_cuda(cudaStreamCreateWithPriority(&dispatch, cudaStreamNonBlocking, highest), "create dispatch stream");
  check_cuda(cudaStreamCreateWithPriority(&combine, cudaStreamNonBlocking, highest), "create combine stream");
  check_cublas(cublasCreate(&cublas), "create cuBLAS handle");
  if (compute_settings.expert_lanes > 1) {
    try {
      lanes = std::make_unique<kernels::ExpertLanes>(compute_settings.expert_lanes, lowest);
    } catch (const std::runtime_error& error) {
      throw GpuError(error.what());
    }
  }
  if (compute_settings.expert_gemm != "cublas" && kernels::GroupedGemm::available()) {
    grouped = std::make_unique<kernels::GroupedGemm>();
    check_cuda(grouped->reserve(), "reserve the grouped GEMM's memory");
  }
  ncclConfig_t config = kernels::communicator_config(settings.max_ctas);
  check_nccl(ncclGroupStart(), "group NCCL init");
  check_nccl(ncclCommInitRankConfig(&dispatch_comm, num_ranks, dispatch_id, rank, &config), "join dispatch communicator");
  check_nccl(ncclCommInitRankConfig(&combine_comm, num_ranks, combine_id, rank, &config), "join combine communicator");
  check_nccl(ncclGroupEnd(), "group NCCL init");
}

void RankResources::abort_communicators() {
  if (aborted_) return;
  aborted_ = true;
  if (dispatch_comm) ncclCommAbort(dispatch_comm);
  if (combine_comm) ncclCommAbort(combine_comm);
  dispatch_comm = combine_comm = nullptr;
}

ncclResult_t RankResources::async_error() const {
  for (ncclComm_t comm : {dispatch_comm, combine_comm}) {
    ncclResult_t error = ncclSuccess;
    if (comm && ncclCommGetAsyncError(comm, &error) == ncclSuccess && error != ncclSuccess && error != ncclInProgress)
      return error;
  }
  return ncclSuccess;
}

RankResources::~RankResources() {
  cudaSetDevice(device);
  if (!aborted_) {
    if (dispatch_comm) ncclCommDestroy(dispatch_comm);
    if (combine_comm) ncclCommDestroy(combine_comm);
  }
  lanes.reset();
  if (cublas) cublasDestroy(cublas);
  for (cudaStream_t s : {compute, dispatch, combine})
    if (s) cudaStreamDestroy(s);
}

}  // namespace comet
