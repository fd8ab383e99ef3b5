// OpGraphs (validate/op_graphs.hpp): a captured expert op replays the same kernels, every time.
#include <cublas_v2.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "expert_ffn.hpp"
#include "gpu_test_support.hpp"
#include "op_graphs.hpp"

namespace comet {
namespace {

using namespace comet::testing;
using bf16 = __nv_bfloat16;

// The forward of 4 ragged experts on 3 lanes: direct launch, then through OpGraphs twice (the
// capture's launch and a replay). The output is poisoned with NaN before each graph launch, so
// a launch that ran nothing, or ran on other buffers, fails; the enqueue function runs once.
TEST(OpGraphs, ReplaysTheCapturedExpertOp) {
  COMET_REQUIRE_GPUS(1);
  const int h = 64, f = 32, experts = 4;
  const std::vector<std::int64_t> offsets{0, 9, 9, 30, 37};
  const std::int64_t rows = offsets.back();
  std::vector<bf16*> w13, w2;
  for (int e = 0; e < experts; ++e) {
    w13.push_back(to_device(to_bf16(sample_values(h * 2 * f, 70 + e))));
    w2.push_back(to_device(to_bf16(sample_values(f * h, 80 + e))));
  }
  std::vector<const bf16*> c13(w13.begin(), w13.end()), c2(w2.begin(), w2.end());
  bf16* x = to_device(to_bf16(sample_values(rows * h, 7)));
  bf16 *h13 = to_device(std::vector<bf16>(rows * 2 * f)), *act = to_device(std::vector<bf16>(rows * f));
  bf16* y = to_device(std::vector<bf16>(rows * h));
  cublasHandle_t handle = nullptr;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  kernels::ExpertLanes lanes(3, 0);
  int enqueued = 0;
  auto forward = [&](cudaStream_t on) {
    ++enqueued;
    ASSERT_EQ(kernels::expert_ffn_forward(handle, {h, f}, kernels::ExpertRows::from_offsets(offsets), x, c13.data(), c2.data(),
                                          h13, act, y, on, &lanes),
              CUBLAS_STATUS_SUCCESS);
  };
  forward(stream);
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  const std::vector<bf16> direct = to_host(y, rows * h);
  enqueued = 0;
  OpGraphs graphs(true);
  std::vector<std::vector<bf16>> launched;
  for (int run = 0; run < 2; ++run) {
    ASSERT_EQ(cudaMemset(y, 0xFF, rows * h * sizeof(bf16)), cudaSuccess);  // NaN
    graphs.launch(5, stream, forward);
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    launched.push_back(to_host(y, rows * h));
  }
  // cuBLAS may pick another algorithm under capture: the graph's output matches the direct one
  // within bf16 rounding, and the replay matches the capture's launch to the bit.
  double diff = 0.0, norm = 0.0;
  for (std::size_t i = 0; i < direct.size(); ++i) {
    const float d = __bfloat162float(direct[i]), first = __bfloat162float(launched[0][i]);
    ASSERT_FALSE(std::isnan(first)) << "element " << i << " not written by the captured launch";
    ASSERT_EQ(__bfloat162float(launched[1][i]), first) << "replay differs at element " << i;
    diff += (first - d) * (first - d);
    norm += d * d;
  }
  ASSERT_GT(norm, 0.0);
  EXPECT_LT(std::sqrt(diff / norm), 1e-2);
  EXPECT_EQ(enqueued, 1) << "the second launch must replay the graph, not enqueue again";
  cudaStreamDestroy(stream);
  cublasDestroy(handle);
}

}  // namespace
}  // namespace comet
