// Which CUTLASS grouped-GEMM tile configuration and tile-scheduler raster keep up with per-expert
// cuBLAS on comet's expert shapes (issue 15: the fused kernels' GEMM part >= 95% of cuBLAS).
// Every configuration x raster x swizzle and cuBLAS are timed once per round, rounds interleaved
// (shuffled after the first); each configuration's rate is reported against cuBLAS's as the
// median of per-round paired ratios (sim/core/paired_ratio.hpp), with its quartiles, and its
// output checked against cuBLAS's (relative L2).
//
//   tile_sweep [--rounds R] NAME:EXPERTS:ROWS_PER_EXPERT:K:N ...
//
// Build (sm_90a, CUTLASS 4.2 headers in .deps/): see build.sh beside this file.
#include <cublas_v2.h>
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "median.hpp"
#include "paired_ratio.hpp"
#include "tile_sweep.cuh"

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "tile_sweep: %s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

__global__ void fill_kernel(__nv_bfloat16* x, std::int64_t n, unsigned seed) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    unsigned h = static_cast<unsigned>(i) * 2654435761u ^ seed * 40503u ^ static_cast<unsigned>(i >> 32);
    h ^= h >> 15, h *= 2246822519u, h ^= h >> 13, h *= 3266489917u, h ^= h >> 16;
    x[i] = __float2bfloat16((static_cast<float>(h) / 4294967296.0f - 0.5f) * 0.1f);
  }
}

__global__ void diff_kernel(const __nv_bfloat16* x, const __nv_bfloat16* ref, std::int64_t n, double* sums) {
  double d = 0, r = 0;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const double a = __bfloat162float(x[i]), b = __bfloat162float(ref[i]);
    d += (a - b) * (a - b), r += b * b;
  }
  atomicAdd(&sums[0], d), atomicAdd(&sums[1], r);
}

double time_ms(const std::function<void()>& work, cudaStream_t stream) {
  for (int i = 0; i < 2; ++i) work();
  cudaEvent_t start, end;
  check(cudaEventCreate(&start), "event"), check(cudaEventCreate(&end), "event");
  std::vector<double> samples;
  for (int s = 0; s < 3; ++s) {
    check(cudaEventRecord(start, stream), "record");
    for (int i = 0; i < 3; ++i) work();
    check(cudaEventRecord(end, stream), "record");
    check(cudaEventSynchronize(end), "sync");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start, end), "elapsed");
    samples.push_back(ms / 3);
  }
  cudaEventDestroy(start), cudaEventDestroy(end);
  return comet::median(samples);
}

struct Variant {
  std::string label;
  std::function<void()> run;
  __nv_bfloat16* out;
};

}  // namespace

int main(int argc, char** argv) {
  int rounds = 11;
  std::vector<std::string> shapes;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--rounds" && i + 1 < argc) rounds = std::atoi(argv[++i]);
    else shapes.push_back(arg);
  }
  if (shapes.empty() || rounds < 1) {
    std::fprintf(stderr, "usage: tile_sweep [--rounds R] NAME:EXPERTS:ROWS_PER_EXPERT:K:N ...\n");
    return 2;
  }
  cudaDeviceProp props{};
  check(cudaGetDeviceProperties(&props, 0), "device");
  int cublas_version = 0;
  cublasHandle_t handle;
  if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) return 1;
  cublasGetVersion(handle, &cublas_version);
  cudaStream_t stream;
  check(cudaStreamCreate(&stream), "stream");
  cublasSetStream(handle, stream);
  std::printf("# tile_sweep on %s (%d SMs), cuBLAS %d; %d interleaved rounds; vs_cub = cuBLAS's time over this one's, paired by round\n",
              props.name, props.multiProcessorCount, cublas_version, rounds);
  std::printf("%-12s %7s %7s %6s %6s %-12s %6s %7s %9s %8s %7s %7s %7s %9s\n", "model", "experts", "rows/e", "K", "N", "tile/clust", "raster",
              "swizzle", "time", "rate", "q1", "vs_cub", "q3", "rel_l2");
  std::printf("%-12s %7s %7s %6s %6s %-12s %6s %7s %9s %8s %7s %7s %7s %9s\n", "#", "", "", "", "", "", "", "", "ms", "TFLOP/s", "%", "%", "%", "");
  for (const std::string& spec : shapes) {
    char name[64];
    int experts, rows, k, n;
    if (std::sscanf(spec.c_str(), "%63[^:]:%d:%d:%d:%d", name, &experts, &rows, &k, &n) != 5 || experts <= 0 || rows <= 0 || k % 8 || n % 8) {
      std::fprintf(stderr, "tile_sweep: bad shape '%s' (NAME:EXPERTS:ROWS_PER_EXPERT:K:N, K and N multiples of 8)\n", spec.c_str());
      return 2;
    }
    const std::int64_t a_elems = static_cast<std::int64_t>(experts) * rows * k, b_elems = static_cast<std::int64_t>(experts) * k * n,
                       c_elems = static_cast<std::int64_t>(experts) * rows * n;
    __nv_bfloat16 *a, *b, *ref;
    check(cudaMalloc(&a, a_elems * 2), "a"), check(cudaMalloc(&b, b_elems * 2), "b"), check(cudaMalloc(&ref, c_elems * 2), "ref");
    fill_kernel<<<1024, 256>>>(a, a_elems, 1), fill_kernel<<<1024, 256>>>(b, b_elems, 2);
    std::vector<Variant> variants;
    variants.push_back({"cublas", [&] {
                          const float alpha = 1, beta = 0;
                          for (int e = 0; e < experts; ++e)
                            cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, rows, k, &alpha, b + static_cast<std::int64_t>(e) * k * n, CUDA_R_16BF, n,
                                         a + static_cast<std::int64_t>(e) * rows * k, CUDA_R_16BF, k, &beta, ref + static_cast<std::int64_t>(e) * rows * n,
                                         CUDA_R_16BF, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
                        },
                        ref});
    std::vector<std::unique_ptr<SweepRunner>> runners;
    std::vector<__nv_bfloat16*> outs;
    for (auto make : {make_c128x256_c2x1, make_c256x128_c2x1, make_c256x128_c1x2, make_c128x256_c1x2, make_c128x256_c1x1,
                      make_regular_c128x256_c2x1, make_streamk_c128x256_c2x1})
      for (int raster : {0, 1})
        for (int swizzle : {1, 4}) {
          __nv_bfloat16* c;
          check(cudaMalloc(&c, c_elems * 2), "c");
          auto runner = make();
          if (!runner->prepare({experts, rows, n, k, a, b, c}, {raster, swizzle})) {
            std::printf("# %s raster %d swizzle %d: cannot run this shape\n", runner->name().c_str(), raster, swizzle);
            cudaFree(c);
            continue;
          }
          SweepRunner* r = runner.get();
          variants.push_back({runner->name() + (raster ? " N " : " M ") + std::to_string(swizzle), [r, &stream] {
                              if (!r->run(stream)) {
                                std::fprintf(stderr, "tile_sweep: %s failed to launch\n", r->name().c_str());
                                std::exit(1);
                              }
                            }, c});
          runners.push_back(std::move(runner));
          outs.push_back(c);
        }
    std::vector<std::vector<double>> samples(variants.size());
    std::vector<std::size_t> order(variants.size());
    for (int round = 0; round < rounds; ++round) {
      std::iota(order.begin(), order.end(), std::size_t{0});
      if (round > 0) std::shuffle(order.begin(), order.end(), std::mt19937(static_cast<unsigned>(round)));
      // Progress on stderr: a run killed by a time limit names the round and the variant it was in.
      std::fprintf(stderr, "# %s: round %d of %d\n", name, round + 1, rounds);
      for (std::size_t v : order) {
        if (round == 0) std::fprintf(stderr, "#   timing %s\n", variants[v].label.c_str());
        samples[v].push_back(time_ms(variants[v].run, stream));
      }
    }
    check(cudaStreamSynchronize(stream), "run");
    check(cudaGetLastError(), "kernels");
    double* sums;
    check(cudaMalloc(&sums, 2 * sizeof(double)), "sums");
    const double flops = 2.0 * experts * rows * static_cast<double>(k) * n;
    for (std::size_t v = 0; v < variants.size(); ++v) {
      check(cudaMemset(sums, 0, 2 * sizeof(double)), "sums");
      diff_kernel<<<1024, 256>>>(variants[v].out, ref, c_elems, sums);
      double host[2];
      check(cudaMemcpy(host, sums, sizeof(host), cudaMemcpyDeviceToHost), "sums");
      const double t = comet::median(samples[v]);
      const comet::Quartiles q = comet::paired_ratio(samples[0], samples[v]);
      char tile[16] = "-", raster[4] = "-";
      int swizzle = 0;
      if (v > 0) std::sscanf(variants[v].label.c_str(), "%15s %3s %d", tile, raster, &swizzle);
      std::printf("%-12s %7d %7d %6d %6d %-12s %6s %7d %9.3f %8.1f %7.1f %7.1f %7.1f %9.2e\n", name, experts, rows, k, n, v ? tile : "cublas", raster,
                  swizzle, t, flops / t * 1e-9, 100 * q.q1, 100 * q.median, 100 * q.q3, std::sqrt(host[0] / host[1]));
    }
    std::fflush(stdout);
    runners.clear();
    for (auto* c : outs) cudaFree(c);
    cudaFree(a), cudaFree(b), cudaFree(ref), cudaFree(sums);
  }
  return 0;
}
