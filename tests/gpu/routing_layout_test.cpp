// GPU test (ctest label "gpu"): the routing-layout kernel against a CPU count.
// Skips with a message when no CUDA device is present (CI machines).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "gpu_test_support.hpp"
#include "routing_layout.hpp"

namespace {

using comet::testing::to_device;
using comet::testing::to_host;

void check_layout(std::int64_t tokens, int top_k, int experts, int ranks, bool with_invalid_ids) {
  std::mt19937 random(42);
  std::uniform_int_distribution<int> expert(0, experts - 1);
  std::vector<std::int32_t> ids(static_cast<std::size_t>(tokens * top_k));
  for (auto& id : ids) id = expert(random);
  if (with_invalid_ids && !ids.empty()) {
    ids.front() = experts;
    ids.back() = -1;
  }
  std::vector<std::int32_t> expert_to_rank(experts);
  for (int e = 0; e < experts; ++e) expert_to_rank[e] = e / (experts / ranks);

  std::vector<std::int32_t> want_expert(experts, 0), want_rank(ranks, 0);
  for (std::int32_t id : ids)
    if (id >= 0 && id < experts) {
      ++want_expert[id];
      ++want_rank[expert_to_rank[id]];
    }

  std::int32_t* d_ids = to_device(ids);
  std::int32_t* d_map = to_device(expert_to_rank);
  // Poison the outputs: the kernel must overwrite them, never leave stale values.
  std::int32_t* d_expert = to_device(std::vector<std::int32_t>(experts, 0x7f7f7f7f));
  std::int32_t* d_rank = to_device(std::vector<std::int32_t>(ranks, 0x7f7f7f7f));
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  ASSERT_EQ(comet::kernels::routing_layout(d_ids, tokens, top_k, d_map, experts, ranks, d_expert, d_rank, stream),
            cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  EXPECT_EQ(to_host(d_expert, experts), want_expert);
  EXPECT_EQ(to_host(d_rank, ranks), want_rank);
  cudaStreamDestroy(stream);
  for (void* p : {static_cast<void*>(d_ids), static_cast<void*>(d_map), static_cast<void*>(d_expert), static_cast<void*>(d_rank)})
    cudaFree(p);
}

TEST(RoutingLayoutGpu, CountsMatchTheCpu) {
  COMET_REQUIRE_GPUS(1);
  check_layout(16384, 8, 256, 8, false);   // DeepSeek-V3-like
  check_layout(4096, 2, 8, 2, false);      // Mixtral-like over 2 GPUs
}

TEST(RoutingLayoutGpu, ZeroTokensAndInvalidIds) {
  COMET_REQUIRE_GPUS(1);
  check_layout(0, 8, 64, 4, false);
  check_layout(1000, 4, 64, 4, true);  // out-of-range ids are not counted
}

}  // namespace
