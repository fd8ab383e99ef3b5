// The fused benches' buffers (fused_bench.cpp, fused_unpermute_bench.cpp): the other GPUs' buffers
// as this GPU reaches them (host-mapped pinned memory, peer memory, or its own memory), one per
// source, and the even route those benches time.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "bench_common.hpp"
#include "bench_sections.hpp"
#include "fused_schedule.hpp"

namespace comet::bench {

/// Another GPU's buffer of `count` bf16 as this GPU sees it. HOST: host-mapped pinned memory read
/// and written through its mapped address; PEER: memory of GPU `device` (not the current one),
/// reached by peer access (NVLink or PCIe); LOCAL: the current GPU's memory.
class RemoteBuffer {
 public:
  RemoteBuffer(std::int64_t count, FusedTransport transport, int device);
  ~RemoteBuffer();
  RemoteBuffer(const RemoteBuffer&) = delete;
  RemoteBuffer& operator=(const RemoteBuffer&) = delete;
  bf16* device() const { return data_; }
  /// The same memory as another type (landing counters: count bf16 hold count / 2 unsigned).
  template <class T>
  T* device_as() const {
    return reinterpret_cast<T*>(data_);
  }

 private:
  void* host_ = nullptr;
  bf16* data_ = nullptr;
};

/// Rows spread evenly over local experts and sources (the rest of the division dropped); this GPU
/// is source 0.
kernels::DispatchRoute even_route(std::int64_t rows, int experts, int sources);

/// One buffer of `count` bf16 per source: source 0 (this GPU) in device memory, the others
/// host-mapped (`host`), spread over the other GPUs (`peer`: source s on GPU 1 + (s - 1) mod
/// (GPUs - 1)) or in this GPU's memory too (`local`).
struct PerSource {
  DeviceBuffer<bf16> own;
  std::vector<std::unique_ptr<RemoteBuffer>> others;
  std::vector<bf16*> pointers;
  PerSource(int sources, std::int64_t count, FusedTransport transport, int gpus);
};

}  // namespace comet::bench
