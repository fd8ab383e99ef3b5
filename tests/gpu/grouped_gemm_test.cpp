// GPU tests (ctest label "gpu") of the CUTLASS grouped GEMM: every group against cuBLAS's GEMM of
// the same bf16 operands (ragged groups, groups without rows, both layouts of B), and the grouped
// expert FFN against the per-expert cuBLAS one (rows with gaps between experts). Skipped without
// a GPU, and without the kernel (no CUTLASS in this build, or not a Hopper GPU: it says which).
#include <cublas_v2.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "expert_ffn.hpp"
#include "expert_ffn_grouped.hpp"
#include "gpu_test_support.hpp"
#include "grouped_gemm.hpp"

namespace comet {
namespace {

using namespace comet::testing;
using bf16 = __nv_bfloat16;

#define COMET_REQUIRE_GROUPED_GEMM()                                     \
  do {                                                                   \
    COMET_REQUIRE_GPUS(1);                                               \
    std::string why;                                                     \
    if (!kernels::GroupedGemm::available(&why)) {                        \
      GTEST_SKIP() << "SKIPPED: " << why;                                \
    }                                                                    \
  } while (false)

// Relative RMS difference; both sides are bf16 results of fp32 accumulations in another order.
double relative_rms(const std::vector<float>& got, const std::vector<float>& want) {
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < want.size(); ++i) diff += (got[i] - want[i]) * (got[i] - want[i]), norm += want[i] * want[i];
  return norm > 0 ? std::sqrt(diff / norm) : (diff > 0 ? 1.0 : 0.0);
}

TEST(GroupedGemm, EveryGroupMatchesCublas) {
  COMET_REQUIRE_GROUPED_GEMM();
  const std::vector<std::int64_t> m{37, 0, 256, 1, 130, 0};
  const std::int64_t n = 264, k = 200;
  cublasHandle_t handle = nullptr;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  kernels::GroupedGemm gemm;
  for (bool b_transposed : {false, true}) {
    SCOPED_TRACE(b_transposed ? "B^T stored [n, k]" : "B stored [k, n]");
    std::vector<bf16*> a, b, c, reference;
    for (std::size_t g = 0; g < m.size(); ++g) {
      a.push_back(to_device(to_bf16(sample_values(std::max<std::int64_t>(m[g], 1) * k, 10 + g))));
      b.push_back(to_device(to_bf16(sample_values(k * n, 20 + g))));
      c.push_back(to_device(std::vector<bf16>(std::max<std::int64_t>(m[g], 1) * n, __float2bfloat16(7.0f))));
      reference.push_back(to_device(std::vector<bf16>(std::max<std::int64_t>(m[g], 1) * n)));
    }
    std::vector<const bf16*> ca(a.begin(), a.end()), cb(b.begin(), b.end());
    ASSERT_EQ(gemm.run(static_cast<int>(m.size()), m.data(), n, k, ca.data(), cb.data(), c.data(), b_transposed, nullptr),
              cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    for (std::size_t g = 0; g < m.size(); ++g) {
      const std::vector<float> got = to_float(to_host(c[g], std::max<std::int64_t>(m[g], 1) * n));
      if (m[g] == 0) {  // untouched
        for (float v : got) {
        ASSERT_EQ(v, 7.0f) << "group " << g << " has no rows but was written";
      }
        continue;
      }
      ASSERT_EQ(kernels::gemm_bf16(handle, false, b_transposed, m[g], n, k, a[g], b[g], reference[g], false), CUBLAS_STATUS_SUCCESS);
      const std::vector<float> want = to_float(to_host(reference[g], m[g] * n));
      EXPECT_LT(relative_rms(got, want), 1e-2) << "group " << g;
    }
    for (auto* list : {&a, &b, &c, &reference})
      for (bf16* p : *list) cudaFree(p);
  }
  cublasDestroy(handle);
}

TEST(GroupedGemm, RejectsShapesTheKernelCannotLoad) {
  COMET_REQUIRE_GROUPED_GEMM();
  kernels::GroupedGemm gemm;
  const std::int64_t m = 4;
  const bf16* a = nullptr;
  bf16* c = nullptr;
  EXPECT_EQ(gemm.run(1, &m, 12, 64, &a, &a, &c, false, nullptr), cudaErrorInvalidValue);  // n not a multiple of 8
}

// The grouped FFN (forward, data gradient) against the per-expert cuBLAS one on the same inputs:
// three experts, the middle one without rows, their rows apart in a larger buffer.
TEST(GroupedGemm, GroupedExpertFfnMatchesThePerExpertOne) {
  COMET_REQUIRE_GROUPED_GEMM();
  const int h = 64, f = 96;
  const std::int64_t buffer_rows = 40;
  kernels::ExpertRows rows;
  rows.first = {2, 9, 20};
  rows.count = {5, 0, 13};
  std::vector<bf16*> w13, w2;
  for (int e = 0; e < 3; ++e) {
    std::vector<float> a = sample_values(h * 2 * f, 50 + e), b = sample_values(f * h, 60 + e);
    for (float& v : a) v /= 8;
    for (float& v : b) v /= 8;
    w13.push_back(to_device(to_bf16(a))), w2.push_back(to_device(to_bf16(b)));
  }
  std::vector<const bf16*> c13(w13.begin(), w13.end()), c2(w2.begin(), w2.end());
  bf16 *x = to_device(to_bf16(sample_values(buffer_rows * h, 6))), *dy = to_device(to_bf16(sample_values(buffer_rows * h, 7)));
  struct Outputs {
    bf16 *h13, *act, *y, *d_act, *d_h13, *dx;
  };
  auto outputs = [&] {
    const bf16 zero = __float2bfloat16(0.0f);
    return Outputs{to_device(std::vector<bf16>(buffer_rows * 2 * f, zero)), to_device(std::vector<bf16>(buffer_rows * f, zero)),
                   to_device(std::vector<bf16>(buffer_rows * h, zero)),     to_device(std::vector<bf16>(buffer_rows * f, zero)),
                   to_device(std::vector<bf16>(buffer_rows * 2 * f, zero)), to_device(std::vector<bf16>(buffer_rows * h, zero))};
  };
  const Outputs cublas = outputs(), grouped = outputs();
  cublasHandle_t handle = nullptr;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  const kernels::ExpertFfnShape shape{h, f};
  ASSERT_EQ(kernels::expert_ffn_forward(handle, shape, rows, x, c13.data(), c2.data(), cublas.h13, cublas.act, cublas.y, nullptr),
            CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(kernels::expert_ffn_backward_data(handle, shape, rows, dy, cublas.h13, c13.data(), c2.data(),
                                              {cublas.d_act, cublas.d_h13, cublas.dx, nullptr, nullptr}, nullptr),
            CUBLAS_STATUS_SUCCESS);
  kernels::GroupedGemm gemm;
  ASSERT_EQ(kernels::expert_ffn_forward_grouped(gemm, shape, rows, x, c13.data(), c2.data(), grouped.h13, grouped.act, grouped.y,
                                                nullptr),
            cudaSuccess);
  ASSERT_EQ(kernels::expert_ffn_backward_data_grouped(gemm, shape, rows, dy, grouped.h13, c13.data(), c2.data(),
                                                      {grouped.d_act, grouped.d_h13, grouped.dx, nullptr, nullptr}, nullptr),
            cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  auto compare = [&](const bf16* got, const bf16* want, std::int64_t width, const char* what) {
    const std::vector<float> g = to_float(to_host(got, buffer_rows * width)), w = to_float(to_host(want, buffer_rows * width));
    EXPECT_LT(relative_rms(g, w), 1e-2) << what;
    for (std::int64_t r = 0; r < buffer_rows; ++r) {
      const bool owned = (r >= 2 && r < 7) || (r >= 20 && r < 33);
      if (owned) continue;
      for (std::int64_t c = 0; c < width; ++c) {
        ASSERT_EQ(g[r * width + c], 0.0f) << what << ": row " << r << " is no expert's";
      }
    }
  };
  compare(grouped.y, cublas.y, h, "y");
  compare(grouped.act, cublas.act, f, "act");
  compare(grouped.dx, cublas.dx, h, "dx");
  compare(grouped.d_h13, cublas.d_h13, 2 * f, "d_h13");
  cublasDestroy(handle);
}

}  // namespace
}  // namespace comet
