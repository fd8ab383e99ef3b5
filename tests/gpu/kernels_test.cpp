// GPU tests (ctest label "gpu"): permute/unpermute, SwiGLU and the expert FFN against CPU
// computations of the same bf16 inputs. Skipped without a CUDA device.
#include <cublas_v2.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "expert_ffn.hpp"
#include "gpu_test_support.hpp"
#include "permute.hpp"
#include "swiglu.hpp"

namespace comet {
namespace {

using namespace comet::testing;
using bf16 = __nv_bfloat16;

float round_bf16(float v) { return __bfloat162float(__float2bfloat16(v)); }
float silu(float x) { return x / (1.0f + std::exp(-x)); }

TEST(PermuteKernels, GatherRowsWithAndWithoutScale) {
  COMET_REQUIRE_GPUS(1);
  for (int hidden : {64, 12}) {  // vectorised and scalar paths
    const int in_rows = 5;
    const std::vector<float> in = sample_values(static_cast<std::size_t>(in_rows) * hidden, hidden);
    const std::vector<std::int32_t> rows{4, 0, 0, 2, 3, 1, 4};
    const std::vector<float> scale{0.5f, 1.0f, 2.0f, -1.0f, 0.25f, 1.5f, 0.0f};
    bf16* d_in = to_device(to_bf16(in));
    std::int32_t* d_rows = to_device(rows);
    float* d_scale = to_device(scale);
    bf16* d_out = to_device(std::vector<bf16>(rows.size() * hidden));
    for (bool scaled : {false, true}) {
      ASSERT_EQ(kernels::gather_rows(d_in, d_rows, scaled ? d_scale : nullptr, static_cast<std::int64_t>(rows.size()), hidden,
                                     d_out, nullptr),
                cudaSuccess);
      const std::vector<float> out = to_float(to_host(d_out, rows.size() * hidden));
      for (std::size_t i = 0; i < rows.size(); ++i)
        for (int h = 0; h < hidden; ++h)
          EXPECT_EQ(out[i * hidden + h], round_bf16(in[rows[i] * hidden + h] * (scaled ? scale[i] : 1.0f)))
              << "row " << i << " hidden " << hidden;
    }
    cudaFree(d_in), cudaFree(d_rows), cudaFree(d_scale), cudaFree(d_out);
  }
}

TEST(PermuteKernels, CombineRowsSumsWeightedCopiesAndSkipsAbsentOnes) {
  COMET_REQUIRE_GPUS(1);
  const int hidden = 24, tokens = 3, top_k = 2;
  const std::vector<float> in = sample_values(4 * hidden, 3);
  const std::vector<std::int32_t> positions{2, 0, -1, 3, 1, -1};  // token 2 has no copy in this chunk
  const std::vector<float> weights{0.25f, 0.75f, 0.5f, 0.5f, 1.0f, 1.0f};
  const std::vector<float> start = sample_values(tokens * hidden, 9);  // accumulates into this
  bf16* d_in = to_device(to_bf16(in));
  std::int32_t* d_pos = to_device(positions);
  float* d_w = to_device(weights);
  float* d_out = to_device(start);
  ASSERT_EQ(kernels::combine_rows(d_in, d_pos, d_w, tokens, top_k, hidden, d_out, nullptr), cudaSuccess);
  const std::vector<float> out = to_host(d_out, tokens * hidden);
  for (int t = 0; t < tokens; ++t)
    for (int h = 0; h < hidden; ++h) {
      float expected = start[t * hidden + h];
      for (int j = 0; j < top_k; ++j)
        if (positions[t * top_k + j] >= 0) expected += weights[t * top_k + j] * round_bf16(in[positions[t * top_k + j] * hidden + h]);
      EXPECT_NEAR(out[t * hidden + h], expected, 1e-5f);
    }
  cudaFree(d_in), cudaFree(d_pos), cudaFree(d_w), cudaFree(d_out);
}

TEST(SwigluKernels, ForwardAndBackwardMatchTheFormula) {
  COMET_REQUIRE_GPUS(1);
  const int rows = 7, ffn = 33;
  const std::vector<float> h13 = sample_values(rows * 2 * ffn, 5), d_act = sample_values(rows * ffn, 8);
  bf16* d_h13 = to_device(to_bf16(h13));
  bf16* d_dact = to_device(to_bf16(d_act));
  bf16* d_out = to_device(std::vector<bf16>(rows * ffn));
  bf16* d_grad = to_device(std::vector<bf16>(rows * 2 * ffn));
  ASSERT_EQ(kernels::swiglu_forward(d_h13, rows, ffn, d_out, nullptr), cudaSuccess);
  ASSERT_EQ(kernels::swiglu_backward(d_h13, d_dact, rows, ffn, d_grad, nullptr), cudaSuccess);
  const std::vector<float> act = to_float(to_host(d_out, rows * ffn)), grad = to_float(to_host(d_grad, rows * 2 * ffn));
  for (int r = 0; r < rows; ++r)
    for (int f = 0; f < ffn; ++f) {
      const float g = round_bf16(h13[r * 2 * ffn + f]), u = round_bf16(h13[r * 2 * ffn + ffn + f]), d = round_bf16(d_act[r * ffn + f]);
      const float s = 1.0f / (1.0f + std::exp(-g));
      EXPECT_NEAR(act[r * ffn + f], silu(g) * u, 1e-2f * std::abs(silu(g) * u) + 1e-3f);
      EXPECT_NEAR(grad[r * 2 * ffn + f], d * u * (s + g * s * (1 - s)), 1e-2f * std::abs(d * u) + 1e-3f);
      EXPECT_NEAR(grad[r * 2 * ffn + ffn + f], d * silu(g), 1e-2f * std::abs(d * silu(g)) + 1e-3f);
    }
  cudaFree(d_h13), cudaFree(d_dact), cudaFree(d_out), cudaFree(d_grad);
}

// Three experts with 5, 0 and 3 rows (an empty one in the middle), forward and backward
// against fp32 CPU math on the same bf16 values.
TEST(ExpertFfn, ForwardAndBackwardMatchCpu) {
  COMET_REQUIRE_GPUS(1);
  const int h = 32, f = 16, experts = 3;
  const std::vector<std::int64_t> offsets{0, 5, 5, 8};
  const int rows = 8;
  auto bf = [](std::vector<float> v) { for (float& x : v) x = round_bf16(x); return v; };
  const std::vector<float> x = bf(sample_values(rows * h, 1)), dy = bf(sample_values(rows * h, 2));
  std::vector<std::vector<float>> w13, w2;
  for (int e = 0; e < experts; ++e) {
    std::vector<float> a = sample_values(h * 2 * f, 10 + e), b = sample_values(f * h, 20 + e);
    for (float& v : a) v = round_bf16(v / 8);
    for (float& v : b) v = round_bf16(v / 8);
    w13.push_back(a), w2.push_back(b);
  }
  // CPU reference.
  std::vector<float> y(rows * h, 0), dx(rows * h, 0);
  std::vector<std::vector<float>> dw13(experts, std::vector<float>(h * 2 * f, 0)), dw2(experts, std::vector<float>(f * h, 0));
  for (int e = 0; e < experts; ++e)
    for (std::int64_t r = offsets[e]; r < offsets[e + 1]; ++r) {
      std::vector<float> z(2 * f, 0), act(f), dact(f, 0), dz(2 * f);
      for (int i = 0; i < h; ++i)
        for (int n = 0; n < 2 * f; ++n) z[n] += x[r * h + i] * w13[e][i * 2 * f + n];
      for (int n = 0; n < 2 * f; ++n) z[n] = round_bf16(z[n]);  // h13 is stored in bf16
      for (int n = 0; n < f; ++n) act[n] = round_bf16(silu(z[n]) * z[f + n]);
      for (int n = 0; n < f; ++n)
        for (int i = 0; i < h; ++i) {
          y[r * h + i] += act[n] * w2[e][n * h + i];
          dact[n] += dy[r * h + i] * w2[e][n * h + i];
          dw2[e][n * h + i] += act[n] * dy[r * h + i];
        }
      for (int n = 0; n < f; ++n) {
        const float s = 1.0f / (1.0f + std::exp(-z[n])), d = round_bf16(dact[n]);
        dz[n] = round_bf16(d * z[f + n] * (s + z[n] * s * (1 - s)));
        dz[f + n] = round_bf16(d * silu(z[n]));
      }
      for (int i = 0; i < h; ++i)
        for (int n = 0; n < 2 * f; ++n) {
          dx[r * h + i] += dz[n] * w13[e][i * 2 * f + n];
          dw13[e][i * 2 * f + n] += x[r * h + i] * dz[n];
        }
    }
  // GPU.
  std::vector<bf16*> d_w13, d_w2, d_dw13, d_dw2;
  for (int e = 0; e < experts; ++e) {
    d_w13.push_back(to_device(to_bf16(w13[e]))), d_w2.push_back(to_device(to_bf16(w2[e])));
    d_dw13.push_back(to_device(std::vector<bf16>(h * 2 * f, __float2bfloat16(0.0f))));
    d_dw2.push_back(to_device(std::vector<bf16>(f * h, __float2bfloat16(0.0f))));
  }
  std::vector<const bf16*> c_w13(d_w13.begin(), d_w13.end()), c_w2(d_w2.begin(), d_w2.end());
  bf16* d_x = to_device(to_bf16(x));
  bf16* d_dy = to_device(to_bf16(dy));
  bf16* d_h13 = to_device(std::vector<bf16>(rows * 2 * f));
  bf16* d_act = to_device(std::vector<bf16>(rows * f));
  bf16* d_y = to_device(std::vector<bf16>(rows * h));
  bf16* d_dact = to_device(std::vector<bf16>(rows * f));
  bf16* d_dh13 = to_device(std::vector<bf16>(rows * 2 * f));
  bf16* d_dx = to_device(std::vector<bf16>(rows * h));
  cublasHandle_t handle = nullptr;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  const kernels::ExpertFfnShape shape{h, f};
  ASSERT_EQ(kernels::expert_ffn_forward(handle, shape, kernels::ExpertRows::from_offsets(offsets), d_x, c_w13.data(), c_w2.data(), d_h13, d_act, d_y, nullptr),
            CUBLAS_STATUS_SUCCESS);
  const kernels::ExpertFfnGrads grads{d_dact, d_dh13, d_dx, d_dw13.data(), d_dw2.data()};
  ASSERT_EQ(kernels::expert_ffn_backward(handle, shape, kernels::ExpertRows::from_offsets(offsets), d_dy, d_x, d_h13, d_act, c_w13.data(),
                                         c_w2.data(), grads, nullptr),
            CUBLAS_STATUS_SUCCESS);
  auto expect_close = [](const std::vector<float>& got, const std::vector<float>& want, const char* what) {
    double diff = 0, norm = 0;
    for (std::size_t i = 0; i < want.size(); ++i) diff += (got[i] - want[i]) * (got[i] - want[i]), norm += want[i] * want[i];
    ASSERT_GT(norm, 0.0) << what;
    EXPECT_LT(std::sqrt(diff / norm), 2e-2) << what;
  };
  expect_close(to_float(to_host(d_y, rows * h)), y, "y");
  expect_close(to_float(to_host(d_dx, rows * h)), dx, "dx");
  for (int e : {0, 2}) {
    expect_close(to_float(to_host(d_dw13[e], h * 2 * f)), dw13[e], "dw13");
    expect_close(to_float(to_host(d_dw2[e], f * h)), dw2[e], "dw2");
  }
  // The empty expert's weight gradients stay zero.
  for (float v : to_float(to_host(d_dw2[1], f * h))) EXPECT_EQ(v, 0.0f);
  cublasDestroy(handle);
}

// Experts spread over parallel lanes (streams + handles) compute what one stream computes, for
// the forward, the data gradient and the accumulated weight gradients: ragged rows, an empty
// expert, a one-row expert, more experts than lanes. Outputs start as NaN: unwritten rows fail.
TEST(ExpertFfn, LanesMatchOneStream) {
  COMET_REQUIRE_GPUS(1);
  const int h = 64, f = 48, experts = 5;
  const std::vector<std::int64_t> offsets{0, 7, 7, 40, 41, 70};
  const std::int64_t rows = offsets.back();
  std::vector<bf16*> w13, w2;
  for (int e = 0; e < experts; ++e) {
    std::vector<float> a = sample_values(h * 2 * f, 30 + e), b = sample_values(f * h, 40 + e);
    for (float& v : a) v /= 8;
    for (float& v : b) v /= 8;
    w13.push_back(to_device(to_bf16(a))), w2.push_back(to_device(to_bf16(b)));
  }
  std::vector<const bf16*> c13(w13.begin(), w13.end()), c2(w2.begin(), w2.end());
  bf16* x = to_device(to_bf16(sample_values(rows * h, 4)));
  bf16* dy = to_device(to_bf16(sample_values(rows * h, 5)));
  const bf16 nan = __float2bfloat16(std::nanf(""));
  struct Outputs {
    bf16 *h13, *act, *y, *d_act, *d_h13, *dx;
    std::vector<bf16*> dw13, dw2;
  };
  auto outputs = [&] {
    Outputs o{to_device(std::vector<bf16>(rows * 2 * f, nan)), to_device(std::vector<bf16>(rows * f, nan)),
              to_device(std::vector<bf16>(rows * h, nan)),     to_device(std::vector<bf16>(rows * f, nan)),
              to_device(std::vector<bf16>(rows * 2 * f, nan)), to_device(std::vector<bf16>(rows * h, nan)), {}, {}};
    for (int e = 0; e < experts; ++e)
      o.dw13.push_back(to_device(std::vector<bf16>(h * 2 * f))), o.dw2.push_back(to_device(std::vector<bf16>(f * h)));
    return o;
  };
  cublasHandle_t handle = nullptr;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  const kernels::ExpertFfnShape shape{h, f};
  kernels::ExpertLanes lanes(3, 0);
  auto run = [&](Outputs& o, kernels::ExpertLanes* with) {
    ASSERT_EQ(kernels::expert_ffn_forward(handle, shape, kernels::ExpertRows::from_offsets(offsets), x, c13.data(), c2.data(), o.h13, o.act, o.y,
                                          nullptr, with),
              CUBLAS_STATUS_SUCCESS);
    const kernels::ExpertFfnGrads grads{o.d_act, o.d_h13, o.dx, o.dw13.data(), o.dw2.data()};
    ASSERT_EQ(kernels::expert_ffn_backward(handle, shape, kernels::ExpertRows::from_offsets(offsets), dy, x, o.h13, o.act, c13.data(), c2.data(),
                                           grads, nullptr, with),
              CUBLAS_STATUS_SUCCESS);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  };
  Outputs one = outputs(), spread = outputs();
  run(one, nullptr);
  run(spread, &lanes);
  auto same = [](const std::vector<float>& a, const std::vector<float>& b, const char* what) {
    double diff = 0, norm = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      ASSERT_TRUE(std::isfinite(b[i])) << what << " element " << i << " not written";
      diff += (a[i] - b[i]) * (a[i] - b[i]);
      norm += a[i] * a[i];
    }
    ASSERT_GT(norm, 0.0) << what;
    EXPECT_LT(std::sqrt(diff / norm), 1e-3) << what;
  };
  for (const Outputs* other : {&spread}) {
    same(to_float(to_host(one.y, rows * h)), to_float(to_host(other->y, rows * h)), "y");
    same(to_float(to_host(one.dx, rows * h)), to_float(to_host(other->dx, rows * h)), "dx");
    for (int e : {0, 2, 3, 4}) {
      same(to_float(to_host(one.dw13[e], h * 2 * f)), to_float(to_host(other->dw13[e], h * 2 * f)), "dw13");
      same(to_float(to_host(one.dw2[e], f * h)), to_float(to_host(other->dw2[e], f * h)), "dw2");
    }
  }
  cublasDestroy(handle);
}

// Experts' rows need not be adjacent (a chunk inside the layer-wide buffers): gapped ranges give
// the rows adjacent ranges give, and the gaps (NaN) stay untouched.
TEST(ExpertFfn, GappedRangesMatchAdjacentOnesAndLeaveTheGaps) {
  COMET_REQUIRE_GPUS(1);
  const int h = 64, f = 48;
  const std::vector<std::int64_t> offsets{0, 5, 5, 9};  // adjacent: 3 experts, the middle one empty
  const kernels::ExpertRows gapped{{2, 11, 20}, {5, 0, 4}};
  const std::int64_t rows = 9, buffer_rows = 26;
  std::vector<bf16*> w13, w2;
  for (int e = 0; e < 3; ++e) {
    std::vector<float> a = sample_values(h * 2 * f, 50 + e), b = sample_values(f * h, 60 + e);
    for (float& v : a) v /= 8;
    for (float& v : b) v /= 8;
    w13.push_back(to_device(to_bf16(a))), w2.push_back(to_device(to_bf16(b)));
  }
  std::vector<const bf16*> c13(w13.begin(), w13.end()), c2(w2.begin(), w2.end());
  const std::vector<bf16> x = to_bf16(sample_values(rows * h, 6));
  const bf16 nan = __float2bfloat16(std::nanf(""));
  std::vector<bf16> x_gapped(buffer_rows * h, nan);
  std::copy(x.begin(), x.begin() + 5 * h, x_gapped.begin() + 2 * h);   // expert 0's rows
  std::copy(x.begin() + 5 * h, x.end(), x_gapped.begin() + 20 * h);    // expert 2's rows
  bf16 *d_x = to_device(x), *d_xg = to_device(x_gapped);
  bf16 *h13 = to_device(std::vector<bf16>(rows * 2 * f)), *act = to_device(std::vector<bf16>(rows * f));
  bf16 *y = to_device(std::vector<bf16>(rows * h, nan));
  bf16 *h13g = to_device(std::vector<bf16>(buffer_rows * 2 * f, nan)), *actg = to_device(std::vector<bf16>(buffer_rows * f, nan));
  bf16 *yg = to_device(std::vector<bf16>(buffer_rows * h, nan));
  cublasHandle_t handle = nullptr;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  const kernels::ExpertFfnShape shape{h, f};
  ASSERT_EQ(kernels::expert_ffn_forward(handle, shape, kernels::ExpertRows::from_offsets(offsets), d_x, c13.data(), c2.data(), h13,
                                        act, y, nullptr),
            CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(kernels::expert_ffn_forward(handle, shape, gapped, d_xg, c13.data(), c2.data(), h13g, actg, yg, nullptr),
            CUBLAS_STATUS_SUCCESS);
  const std::vector<float> adjacent = to_float(to_host(y, rows * h)), spread = to_float(to_host(yg, buffer_rows * h));
  for (std::int64_t r = 0; r < buffer_rows; ++r) {
    const bool expert0 = r >= 2 && r < 7, expert2 = r >= 20 && r < 24;
    const std::int64_t source = expert0 ? r - 2 : r - 20 + 5;
    for (int c = 0; c < h; ++c) {
      const float v = spread[r * h + c];
      // Same shapes and handle: normally bit-equal; a bf16 ulp of slack in case another
      // alignment picks another kernel.
      if (expert0 || expert2)
        ASSERT_NEAR(v, adjacent[source * h + c], 1e-2 * std::fabs(adjacent[source * h + c]) + 1e-3) << "row " << r;
      else
        ASSERT_TRUE(std::isnan(v)) << "gap row " << r << " was written";
    }
  }
  cublasDestroy(handle);
}

}  // namespace
}  // namespace comet
