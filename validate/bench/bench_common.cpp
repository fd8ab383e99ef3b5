#include "bench_common.hpp"

#include <exception>
#include <thread>

#include "all_to_all_v.hpp"
#include "gpu_error.hpp"
#include "median.hpp"
#include "random_fill.hpp"

namespace comet::bench {

double time_s(const std::function<void()>& work, cudaStream_t stream, int iters) {
  for (int i = 0; i < 3; ++i) work();
  cudaEvent_t start, end;
  check_cuda(cudaEventCreate(&start), "event");
  check_cuda(cudaEventCreate(&end), "event");
  std::vector<double> samples;
  for (int s = 0; s < 5; ++s) {
    check_cuda(cudaEventRecord(start, stream), "record");
    for (int i = 0; i < iters; ++i) work();
    check_cuda(cudaEventRecord(end, stream), "record");
    check_cuda(cudaEventSynchronize(end), "synchronize");
    float ms = 0;
    check_cuda(cudaEventElapsedTime(&ms, start, end), "elapsed");
    samples.push_back(ms * 1e-3 / iters);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(end);
  return median(samples);
}

void fill(DeviceBuffer<bf16>& buffer, std::uint64_t seed) {
  check_cuda(kernels::random_fill_bf16(buffer.get(), buffer.size(), seed, 0.05f, nullptr), "fill " + buffer.name());
}

void run_per_gpu(int ranks, const std::function<void(int rank)>& per_rank) {
  std::vector<std::string> errors(ranks);
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      try {
        check_cuda(cudaSetDevice(r), "select GPU");
        per_rank(r);
      } catch (const std::exception& error) {
        errors[r] = error.what();
      }
    });
  for (auto& t : threads) t.join();
  for (const std::string& e : errors)
    if (!e.empty()) throw GpuError(e);
}

ncclComm_t join_communicator(int rank, int ranks, const ncclUniqueId& id, int max_ctas) {
  ncclConfig_t config = kernels::communicator_config(max_ctas);
  ncclComm_t comm = nullptr;
  check_nccl(ncclCommInitRankConfig(&comm, ranks, id, rank, &config), "NCCL init");
  return comm;
}

}  // namespace comet::bench
