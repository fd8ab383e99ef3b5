// A named device allocation (RAII). The name is what an out-of-memory error reports, so a user
// knows which buffer of which size did not fit.
#pragma once

#include <cuda_runtime.h>
#include <fmt/format.h>

#include <cstdint>
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "gpu_error.hpp"

namespace comet {

template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(std::string name, std::int64_t count) : name_(std::move(name)), count_(count) {
    if (count_ <= 0) return;
    const auto bytes = static_cast<std::size_t>(count_) * sizeof(T);
    if (cudaMalloc(&data_, bytes) != cudaSuccess) {
      cudaGetLastError();  // clear the sticky allocation error
      std::size_t free = 0, total = 0;
      cudaMemGetInfo(&free, &total);
      int device = 0;
      cudaGetDevice(&device);
      data_ = nullptr;
      throw GpuOutOfMemory(fmt::format("out of GPU memory: buffer '{}' needs {:.3f} GiB on GPU {} ({:.3f} GiB free of {:.3f})",
                                       name_, bytes / 1073741824.0, device, free / 1073741824.0, total / 1073741824.0));
    }
  }
  /// Copies `values` to a new buffer (synchronously: setup, not timed).
  DeviceBuffer(std::string name, const std::vector<T>& values) : DeviceBuffer(std::move(name), static_cast<std::int64_t>(values.size())) {
    if (!values.empty())
      check_cuda(cudaMemcpy(data_, values.data(), values.size() * sizeof(T), cudaMemcpyHostToDevice), "upload " + name_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept { swap(other); }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    DeviceBuffer moved(std::move(other));
    swap(moved);
    return *this;
  }
  ~DeviceBuffer() {
    if (data_) cudaFree(data_);
  }

  T* get() const { return data_; }
  std::int64_t size() const { return count_; }
  const std::string& name() const { return name_; }
  std::vector<T> download() const { return download(0, count_); }
  /// Elements [first, first + count) (clamped to the buffer).
  std::vector<T> download(std::int64_t first, std::int64_t count) const {
    count = std::max<std::int64_t>(0, std::min(count, count_ - first));
    std::vector<T> out(static_cast<std::size_t>(count));
    if (count > 0)
      check_cuda(cudaMemcpy(out.data(), data_ + first, out.size() * sizeof(T), cudaMemcpyDeviceToHost), "download " + name_);
    return out;
  }

 private:
  void swap(DeviceBuffer& other) noexcept {
    std::swap(name_, other.name_);
    std::swap(count_, other.count_);
    std::swap(data_, other.data_);
  }
  std::string name_;
  std::int64_t count_ = 0;
  T* data_ = nullptr;
};

}  // namespace comet
