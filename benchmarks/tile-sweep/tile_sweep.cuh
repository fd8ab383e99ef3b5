// One CUTLASS grouped forward GEMM (C_g = A_g B_g, all row-major, bf16) per tile configuration,
// behind a type-erased runner, so that each configuration compiles in its own translation unit.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct SweepProblem {
  int groups = 0, m = 0, n = 0, k = 0;  // every group m x n x k
  const __nv_bfloat16* a = nullptr;     // [groups * m, k]
  const __nv_bfloat16* b = nullptr;     // [groups, k, n]
  __nv_bfloat16* c = nullptr;           // [groups * m, n]
};

/// Raster order of the group tile scheduler: 0 along M (CUTLASS's default for groups), 1 along N.
struct SweepSchedule {
  int raster = 0, swizzle = 1;
};

class SweepRunner {
 public:
  virtual ~SweepRunner() = default;
  virtual std::string name() const = 0;
  /// Lays out the argument arrays and workspace for `p` under `s`; false if CUTLASS cannot run it.
  virtual bool prepare(const SweepProblem& p, SweepSchedule s) = 0;
  virtual bool run(cudaStream_t stream) = 0;
};

std::unique_ptr<SweepRunner> make_c128x256_c2x1();
std::unique_ptr<SweepRunner> make_c256x128_c2x1();
std::unique_ptr<SweepRunner> make_c256x128_c1x2();
std::unique_ptr<SweepRunner> make_c128x256_c1x2();
std::unique_ptr<SweepRunner> make_c128x256_c1x1();
/// CUTLASS's regular Hopper GEMM, comet's tile and cluster, launched once per expert as cuBLAS is:
/// the persistent tile scheduler, and stream-K.
std::unique_ptr<SweepRunner> make_regular_c128x256_c2x1();
std::unique_ptr<SweepRunner> make_streamk_c128x256_c2x1();
