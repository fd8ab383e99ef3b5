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

// Both tile configurations: groups of 106 rows on average take the large tiles, of 43 the small.
TEST(GroupedGemm, EveryGroupMatchesCublas) {
  COMET_REQUIRE_GROUPED_GEMM();
  const std::int64_t n = 264, k = 200;
  cublasHandle_t handle = nullptr;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  kernels::GroupedGemm gemm;
  for (const std::vector<std::int64_t>& m : {std::vector<std::int64_t>{37, 0, 256, 1, 130, 0},
                                             std::vector<std::int64_t>{3, 64, 0, 17, 90}})
  for (bool b_transposed : {false, true}) {
    SCOPED_TRACE(::testing::Message() << (b_transposed ? "B^T stored [n, k]" : "B stored [k, n]") << ", " << m.size() << " groups");
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

// Weight gradients: C_g += A_g^T B_g over each group's rows (ragged, one group without rows, whose
// C must stay as it was), against cuBLAS's transposed, accumulating GEMM from the same C.
TEST(GroupedGemm, WeightGradientsAccumulateLikeCublas) {
  COMET_REQUIRE_GROUPED_GEMM();
  const std::vector<std::int64_t> k{40, 0, 300, 3};
  const std::int64_t m = 136, n = 200;
  cublasHandle_t handle = nullptr;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  kernels::GroupedGemm gemm;
  std::vector<bf16*> a, b, c, reference;
  for (std::size_t g = 0; g < k.size(); ++g) {
    const std::vector<bf16> start = to_bf16(sample_values(m * n, 40 + g));
    a.push_back(to_device(to_bf16(sample_values(std::max<std::int64_t>(k[g], 1) * m, 20 + g))));
    b.push_back(to_device(to_bf16(sample_values(std::max<std::int64_t>(k[g], 1) * n, 30 + g))));
    c.push_back(to_device(start));
    reference.push_back(to_device(start));
  }
  std::vector<const bf16*> ca(a.begin(), a.end()), cb(b.begin(), b.end());
  ASSERT_EQ(gemm.run_weight_gradient(static_cast<int>(k.size()), k.data(), m, n, ca.data(), cb.data(), c.data(), nullptr),
            cudaSuccess);
  for (std::size_t g = 0; g < k.size(); ++g) {
    if (k[g] == 0) continue;
    ASSERT_EQ(kernels::gemm_bf16(handle, true, false, m, n, k[g], a[g], b[g], reference[g], true), CUBLAS_STATUS_SUCCESS);
  }
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  for (std::size_t g = 0; g < k.size(); ++g) {
    const std::vector<float> got = to_float(to_host(c[g], m * n)), want = to_float(to_host(reference[g], m * n));
    if (k[g] == 0) {
      EXPECT_EQ(got, want) << "group " << g << " has no rows: its C must stay as it was";
    } else {
      EXPECT_LT(relative_rms(got, want), 1e-2) << "group " << g;
    }
  }
  for (auto* list : {&a, &b, &c, &reference})
    for (bf16* p : *list) cudaFree(p);
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

// The grouped FFN (forward, data and weight gradients) against the per-expert cuBLAS one on the same inputs:
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
  // Weight gradients accumulate into the same starting values on both paths.
  std::vector<bf16*> dw13_cublas, dw2_cublas, dw13_grouped, dw2_grouped;
  for (int e = 0; e < 3; ++e) {
    const std::vector<bf16> start13 = to_bf16(sample_values(h * 2 * f, 70 + e)), start2 = to_bf16(sample_values(f * h, 80 + e));
    dw13_cublas.push_back(to_device(start13)), dw13_grouped.push_back(to_device(start13));
    dw2_cublas.push_back(to_device(start2)), dw2_grouped.push_back(to_device(start2));
  }
  ASSERT_EQ(kernels::expert_ffn_backward(handle, shape, rows, dy, x, cublas.h13, cublas.act, c13.data(), c2.data(),
                                         {cublas.d_act, cublas.d_h13, cublas.dx, dw13_cublas.data(), dw2_cublas.data()}, nullptr),
            CUBLAS_STATUS_SUCCESS);
  kernels::GroupedGemm gemm;
  ASSERT_EQ(kernels::expert_ffn_forward_grouped(gemm, shape, rows, x, c13.data(), c2.data(), grouped.h13, grouped.act, grouped.y,
                                                nullptr),
            cudaSuccess);
  const kernels::ExpertFfnGrads grouped_grads{grouped.d_act, grouped.d_h13, grouped.dx, dw13_grouped.data(), dw2_grouped.data()};
  ASSERT_EQ(kernels::expert_ffn_backward_data_grouped(gemm, shape, rows, dy, grouped.h13, c13.data(), c2.data(), grouped_grads,
                                                      nullptr),
            cudaSuccess);
  ASSERT_EQ(kernels::expert_ffn_backward_weights_grouped(gemm, shape, rows, dy, x, grouped.act, grouped_grads, nullptr),
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
  for (int e = 0; e < 3; ++e) {
    const std::vector<float> g13 = to_float(to_host(dw13_grouped[e], h * 2 * f)), w13c = to_float(to_host(dw13_cublas[e], h * 2 * f));
    const std::vector<float> g2 = to_float(to_host(dw2_grouped[e], f * h)), w2c = to_float(to_host(dw2_cublas[e], f * h));
    EXPECT_LT(relative_rms(g13, w13c), 1e-2) << "d_w13 of expert " << e;
    EXPECT_LT(relative_rms(g2, w2c), 1e-2) << "d_w2 of expert " << e;
  }
  cublasDestroy(handle);
}

}  // namespace
}  // namespace comet
