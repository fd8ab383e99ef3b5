#include "fused_buffers.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "gpu_error.hpp"

namespace comet::bench {

RemoteBuffer::RemoteBuffer(std::int64_t count, FusedTransport transport, int device) {
  const std::size_t bytes = static_cast<std::size_t>(std::max<std::int64_t>(count, 1)) * sizeof(bf16);
  if (transport == FusedTransport::LOCAL) {
    check_cuda(cudaMalloc(&data_, bytes), "a source's buffer in this GPU's memory");
    return;
  }
  if (transport == FusedTransport::HOST) {
    check_cuda(cudaHostAlloc(&host_, bytes, cudaHostAllocMapped), "pinned buffer");
    check_cuda(cudaHostGetDevicePointer(reinterpret_cast<void**>(&data_), host_, 0), "mapped buffer");
    return;
  }
  int current = 0, can_access = 0;
  check_cuda(cudaGetDevice(&current), "current GPU");
  check_cuda(cudaDeviceCanAccessPeer(&can_access, current, device), "peer query");
  if (!can_access) throw std::runtime_error(fmt::format("GPU {} cannot access GPU {}'s memory (no peer access)", current, device));
  if (cudaError_t e = cudaDeviceEnablePeerAccess(device, 0); e != cudaSuccess && e != cudaErrorPeerAccessAlreadyEnabled)
    check_cuda(e, "peer access");
  cudaGetLastError();  // clear "already enabled"
  check_cuda(cudaSetDevice(device), "peer GPU");
  const cudaError_t allocated = cudaMalloc(&data_, bytes);
  check_cuda(cudaSetDevice(current), "this GPU");
  check_cuda(allocated, fmt::format("buffer on GPU {}", device));
}

RemoteBuffer::~RemoteBuffer() {
  if (host_) cudaFreeHost(host_);
  else if (data_) cudaFree(data_);
}

kernels::DispatchRoute even_route(std::int64_t rows, int experts, int sources) {
  kernels::DispatchRoute route{sources, experts, 0, {}};
  route.rows.assign(static_cast<std::size_t>(experts) * sources, rows / (static_cast<std::int64_t>(experts) * sources));
  return route;
}

PerSource::PerSource(int sources, std::int64_t count, FusedTransport transport, int gpus) : own("this GPU's rows", count) {
  pointers.push_back(own.get());
  for (int s = 1; s < sources; ++s) {
    others.push_back(std::make_unique<RemoteBuffer>(count, transport, transport == FusedTransport::PEER ? 1 + (s - 1) % (gpus - 1) : -1));
    pointers.push_back(others.back()->device());
  }
}

}  // namespace comet::bench
