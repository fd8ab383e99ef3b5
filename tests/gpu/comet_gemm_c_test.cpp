// Tests of the kernels' C API (comet_gemm_c.h): arguments it must refuse, with a message (these
// need no GPU), and, on a Hopper GPU (label "gpu"), every kind against cuBLAS's GEMM of the same
// bf16 operands over ragged experts with one of no rows, both layouts of B, fresh random data each
// run and a poisoned output.
#include "comet_gemm_c.h"

#include <cublas_v2.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "expert_ffn.hpp"
#include "fused_combine_gemm.hpp"
#include "fused_dispatch_gemm.hpp"
#include "gpu_test_support.hpp"
#include "grouped_gemm.hpp"

namespace comet {
namespace {

using namespace comet::testing;
using bf16 = __nv_bfloat16;

// A create call that must fail; returns its message.
std::string refusal(int kind, int experts, const std::int64_t* rows, std::int64_t k, std::int64_t n, int band_tiles = 0) {
  static char some_device_memory;  // never dereferenced: validation comes first
  comet_gemm* g = comet_gemm_create(kind, experts, rows, k, n, &some_device_memory, &some_device_memory, &some_device_memory, 0, band_tiles);
  EXPECT_EQ(g, nullptr);
  comet_gemm_destroy(g);
  return comet_gemm_last_error();
}

TEST(CometGemmC, RefusesBadArgumentsAndSaysWhich) {
  const std::int64_t rows[] = {16, 0, 32};
  const std::int64_t negative[] = {16, -3, 32};
  EXPECT_NE(refusal(7, 3, rows, 64, 64).find("kind 7"), std::string::npos);
  EXPECT_NE(refusal(COMET_GEMM_GROUPED, 0, rows, 64, 64).find("experts 0"), std::string::npos);
  EXPECT_NE(refusal(COMET_GEMM_GROUPED, 3, nullptr, 64, 64).find("rows"), std::string::npos);
  EXPECT_NE(refusal(COMET_GEMM_FUSED_DISPATCH, 3, negative, 64, 64).find("rows[1] -3"), std::string::npos);
  EXPECT_NE(refusal(COMET_GEMM_FUSED_COMBINE, 3, rows, 12, 64).find("k 12"), std::string::npos);
  EXPECT_NE(refusal(COMET_GEMM_FUSED_COMBINE, 3, rows, 64, 0).find("n 0"), std::string::npos);
  EXPECT_NE(refusal(COMET_GEMM_FUSED_COMBINE, 3, rows, 64, 64, -1).find("band_tiles -1"), std::string::npos);
  const std::int64_t one[] = {8};
  EXPECT_EQ(comet_gemm_create(COMET_GEMM_GROUPED, 1, one, 64, 64, nullptr, nullptr, nullptr, 0, 0), nullptr);
  EXPECT_NE(std::string(comet_gemm_last_error()).find("NULL"), std::string::npos);
  EXPECT_NE(comet_gemm_run(nullptr, nullptr), 0);
  EXPECT_NE(std::string(comet_gemm_last_error()).find("NULL handle"), std::string::npos);
}

// Uniform values in [-1, 1) rounded to bf16, from a seed drawn per run.
std::vector<bf16> random_bf16(std::size_t count, std::mt19937& rng) {
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> v(count);
  for (float& x : v) x = uniform(rng);
  return to_bf16(v);
}

TEST(CometGemmC, EveryKindMatchesCublasOnRaggedExperts) {
  COMET_REQUIRE_GPUS(1);
  std::string why;
  if (!kernels::GroupedGemm::available(&why) || !kernels::FusedDispatchGemm::available(&why) || !kernels::FusedCombineGemm::available(&why))
    GTEST_SKIP() << "SKIPPED: " << why;
  const std::vector<std::int64_t> rows{300, 0, 129, 7, 256};
  const std::int64_t k = 200, n = 392;  // neither a multiple of the 64-deep K step nor of the 256-wide N tile
  std::int64_t total = 0;
  for (std::int64_t r : rows) total += r;
  const int experts = static_cast<int>(rows.size());
  std::mt19937 rng(std::random_device{}());
  cublasHandle_t handle = nullptr;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  for (bool transposed : {false, true}) {
    bf16* a = to_device(random_bf16(total * k, rng));
    bf16* b = to_device(random_bf16(experts * k * n, rng));
    bf16* d = to_device(std::vector<bf16>(total * n));
    bf16* reference = to_device(std::vector<bf16>(total * n));
    std::int64_t offset = 0;
    for (int e = 0; e < experts; ++e) {
      if (rows[e] > 0) {
        ASSERT_EQ(kernels::gemm_bf16(handle, false, transposed, rows[e], n, k, a + offset * k, b + e * k * n, reference + offset * n, false),
                  CUBLAS_STATUS_SUCCESS);
      }
      offset += rows[e];
    }
    const std::vector<float> want = to_float(to_host(reference, total * n));
    for (int kind : {COMET_GEMM_GROUPED, COMET_GEMM_FUSED_DISPATCH, COMET_GEMM_FUSED_COMBINE}) {
      SCOPED_TRACE(::testing::Message() << "kind " << kind << (transposed ? ", B^T stored [n, k]" : ", B stored [k, n]"));
      ASSERT_EQ(cudaMemset(d, 0xff, total * n * sizeof(bf16)), cudaSuccess);  // NaN: an unwritten row fails the comparison
      comet_gemm* g = comet_gemm_create(kind, experts, rows.data(), k, n, a, b, d, transposed ? 1 : 0, kind == COMET_GEMM_FUSED_COMBINE ? 1 : 0);
      ASSERT_NE(g, nullptr) << comet_gemm_last_error();
      for (int run = 0; run < 2; ++run) ASSERT_EQ(comet_gemm_run(g, nullptr), 0) << comet_gemm_last_error();
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      comet_gemm_destroy(g);
      EXPECT_LT(relative_rms(to_float(to_host(d, total * n)), want), 1e-2);
    }
    for (bf16* p : {a, b, d, reference}) cudaFree(p);
  }
  cublasDestroy(handle);
}

}  // namespace
}  // namespace comet
