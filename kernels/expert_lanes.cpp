#include "expert_lanes.hpp"

#include <stdexcept>
#include <string>

namespace comet::kernels {
namespace {

void require(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error("expert lanes: " + what);
}

}  // namespace

ExpertLanes::ExpertLanes(int lanes, int priority) {
  try {
    require(lanes >= 1, "at least one lane");
    require(cudaEventCreateWithFlags(&forked_, cudaEventDisableTiming) == cudaSuccess, "create event");
    for (int i = 0; i < lanes; ++i) {
      cudaStream_t stream = nullptr;
      require(cudaStreamCreateWithPriority(&stream, cudaStreamNonBlocking, priority) == cudaSuccess, "create stream");
      streams_.push_back(stream);
      cublasHandle_t handle = nullptr;
      require(cublasCreate(&handle) == CUBLAS_STATUS_SUCCESS, "create cuBLAS handle");
      handles_.push_back(handle);
      require(cublasSetStream(handle, stream) == CUBLAS_STATUS_SUCCESS, "bind cuBLAS handle");
      cudaEvent_t done = nullptr;
      require(cudaEventCreateWithFlags(&done, cudaEventDisableTiming) == cudaSuccess, "create event");
      done_.push_back(done);
    }
  } catch (...) {
    release();  // the destructor does not run for a constructor that throws
    throw;
  }
}

void ExpertLanes::release() {
  for (cublasHandle_t h : handles_) cublasDestroy(h);
  for (cudaStream_t s : streams_) cudaStreamDestroy(s);
  for (cudaEvent_t e : done_) cudaEventDestroy(e);
  if (forked_) cudaEventDestroy(forked_);
  handles_.clear();
  streams_.clear();
  done_.clear();
  forked_ = nullptr;
}

cudaError_t ExpertLanes::fork(cudaStream_t from) {
  cudaError_t error = cudaEventRecord(forked_, from);
  for (std::size_t i = 0; i < streams_.size() && error == cudaSuccess; ++i) error = cudaStreamWaitEvent(streams_[i], forked_, 0);
  return error;
}

cudaError_t ExpertLanes::join(cudaStream_t into) {
  cudaError_t error = cudaSuccess;
  for (std::size_t i = 0; i < streams_.size() && error == cudaSuccess; ++i) {
    error = cudaEventRecord(done_[i], streams_[i]);
    if (error == cudaSuccess) error = cudaStreamWaitEvent(into, done_[i], 0);
  }
  return error;
}

cublasStatus_t ExpertLanes::set_sm_count_target(int sms) {
  cublasStatus_t status = CUBLAS_STATUS_SUCCESS;
  for (std::size_t i = 0; i < handles_.size() && status == CUBLAS_STATUS_SUCCESS; ++i) status = cublasSetSmCountTarget(handles_[i], sms);
  return status;
}

}  // namespace comet::kernels
