// The real executor's host side: the token layout must move exactly the Plan's traffic, every
// token copy exactly once, and bring every copy back to its token.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numeric>
#include <set>

#include "hash_uniform.hpp"
#include "numerics.hpp"
#include "plan_builder.hpp"
#include "node_plans.hpp"
#include "token_layout.hpp"

namespace comet {
namespace {

using testing::NodePlans;

class LayoutTest : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(LayoutTest, MovesThePlansTrafficAndEveryCopyOnce) {
  const NodePlans b;
  const auto [placement, partition] = GetParam();
  const BuiltPlan built = b.plan(placement, partition);
  const ChunkPlan& chunks = built.chunks.at(0);
  ASSERT_FALSE(chunks.parts.empty());
  const int k = b.scenario.model.top_k;
  const TokenLayout layout(chunks.parts, built.placement, k, 9);
  ASSERT_EQ(layout.num_chunks(), static_cast<int>(chunks.chunks.size()));
  const int ranks = layout.num_ranks();

  // Plan bytes == layout rows x bytes per copy, for every all-to-all transfer.
  const double per_copy = b.scenario.model.bytes_per_token_copy();
  int transfers = 0;
  for (const Op& op : built.plan.ops()) {
    if (op.kind != OpKind::ALL_TO_ALL) continue;
    for (const Transfer& t : built.plan.matrices()[op.matrix].transfers) {
      EXPECT_DOUBLE_EQ(layout.chunk(op.tags.chunk, t.src).send_count[t.dst] * per_copy, t.bytes);
      ++transfers;
    }
  }
  EXPECT_GT(transfers, 0);

  for (int src = 0; src < ranks; ++src) {
    const RankTokens& tokens = layout.tokens(src);
    EXPECT_EQ(tokens.tokens, b.scenario.workload.tokens_per_gpu);
    for (std::int64_t t = 0; t < tokens.tokens; ++t) {
      std::set<int> experts;
      float sum = 0.0f;
      for (int j = 0; j < k; ++j) {
        experts.insert(tokens.experts[t * k + j]);
        sum += tokens.weights[t * k + j];
      }
      EXPECT_EQ(static_cast<int>(experts.size()), k) << "token " << t << " repeats an expert";
      EXPECT_NEAR(sum, 1.0f, 1e-5f);
    }
    // Every copy in exactly one chunk; its send row names its token and lands on its expert's GPU.
    std::vector<int> seen(tokens.experts.size(), 0);
    for (int c = 0; c < layout.num_chunks(); ++c) {
      const ChunkLayout& l = layout.chunk(c, src);
      const auto& at = l.send_offsets;
      for (std::size_t i = 0; i < l.combine_positions.size(); ++i) {
        const std::int32_t row = l.combine_positions[i];
        if (row < 0) continue;
        ++seen[i];
        EXPECT_EQ(l.send_rows[row], static_cast<std::int32_t>(i / k));
        const int dst = static_cast<int>(std::upper_bound(at.begin(), at.end(), row) - at.begin()) - 1;
        EXPECT_EQ(built.placement.replicas(tokens.experts[i]).front(), dst);
      }
      EXPECT_EQ(std::accumulate(l.send_count.begin(), l.send_count.end(), std::int64_t{0}), l.rows_sent());
    }
    for (int s : seen) EXPECT_EQ(s, 1);
  }
}

// Emulates the executor's data movement on the host with each row holding its token's id:
// permute -> all-to-all -> expert-major rows placed in the layer-wide buffer -> identity experts
// -> source-major -> all-to-all -> weighted unpermute must give every token back its own id
// (weights sum to 1). The layer-wide buffer must get every row exactly once over the chunks, and
// each slot's range (what one weight-gradient GEMM reads) only rows of that slot's expert.
TEST_P(LayoutTest, RoundTripReturnsEveryTokensOwnRows) {
  const NodePlans b;
  const auto [placement, partition] = GetParam();
  const BuiltPlan built = b.plan(placement, partition);
  const int k = b.scenario.model.top_k;
  const TokenLayout layout(built.chunks.at(0).parts, built.placement, k, 9);
  const int ranks = layout.num_ranks();
  auto id = [](int rank, std::int64_t token) { return 1000.0 * rank + static_cast<double>(token) + 1.0; };
  std::vector<std::vector<double>> out(ranks), layer(ranks);
  std::vector<std::vector<int>> layer_writes(ranks), layer_expert(ranks);
  for (int r = 0; r < ranks; ++r) {
    out[r].assign(layout.tokens(r).tokens, 0.0);
    layer[r].assign(static_cast<std::size_t>(layout.layer_slot_offsets(r).back()), 0.0);
    layer_writes[r].assign(layer[r].size(), 0);
    layer_expert[r].assign(layer[r].size(), -1);
  }
  for (int c = 0; c < layout.num_chunks(); ++c) {
    // Dispatch: receive buffers by source.
    std::vector<std::vector<double>> recv(ranks);
    std::vector<std::vector<int>> recv_expert(ranks);
    for (int dst = 0; dst < ranks; ++dst)
      for (int src = 0; src < ranks; ++src) {
        const ChunkLayout& l = layout.chunk(c, src);
        std::vector<int> expert_of_row(l.rows_sent(), -1);
        for (std::size_t i = 0; i < l.combine_positions.size(); ++i)
          if (l.combine_positions[i] >= 0) expert_of_row[l.combine_positions[i]] = layout.tokens(src).experts[i];
        const auto& at = l.send_offsets;
        for (std::int64_t i = at[dst]; i < at[dst + 1]; ++i) {
          recv[dst].push_back(id(src, l.send_rows[i]));
          recv_expert[dst].push_back(expert_of_row[i]);
        }
      }
    // Expert-major, each slot's rows only from tokens routed to that slot's expert; back to source-major.
    std::vector<std::vector<double>> back(ranks);
    for (int dst = 0; dst < ranks; ++dst) {
      const ChunkLayout& l = layout.chunk(c, dst);
      ASSERT_EQ(static_cast<std::size_t>(l.rows_received()), recv[dst].size());
      std::vector<double> expert_major(recv[dst].size());
      for (std::size_t i = 0; i < expert_major.size(); ++i) expert_major[i] = recv[dst][l.expert_rows[i]];
      // Each slot's rows are copies routed to that slot's expert (what its GEMM computes).
      for (std::size_t s = 0; s + 1 < l.slot_offsets.size(); ++s)
        for (std::int64_t i = l.slot_offsets[s]; i < l.slot_offsets[s + 1]; ++i)
          ASSERT_EQ(recv_expert[dst][l.expert_rows[i]], layout.slot_experts(dst)[s]);
      // The GEMMs' ranges (slot_first, counts from slot_offsets) are where the rows land.
      for (std::size_t s = 0; s + 1 < l.slot_offsets.size(); ++s)
        for (std::int64_t i = l.slot_offsets[s]; i < l.slot_offsets[s + 1]; ++i)
          ASSERT_EQ(l.layer_rows[i], l.slot_first[s] + (i - l.slot_offsets[s]));
      for (std::size_t i = 0; i < expert_major.size(); ++i) {
        layer[dst][l.layer_rows[i]] = expert_major[i];
        ++layer_writes[dst][l.layer_rows[i]];
        layer_expert[dst][l.layer_rows[i]] = recv_expert[dst][l.expert_rows[i]];
      }
      back[dst].resize(recv[dst].size());
      for (std::size_t i = 0; i < back[dst].size(); ++i) {
        back[dst][i] = layer[dst][l.source_layer_rows[i]];
        ASSERT_EQ(back[dst][i], expert_major[l.source_rows[i]]);
      }
    }
    // Combine: rank src gets its pieces back from every dst, in its send order.
    for (int src = 0; src < ranks; ++src) {
      const ChunkLayout& l = layout.chunk(c, src);
      std::vector<double> returned;
      for (int dst = 0; dst < ranks; ++dst) {
        const ChunkLayout& d = layout.chunk(c, dst);
        const auto& at = d.recv_offsets;
        returned.insert(returned.end(), back[dst].begin() + at[src], back[dst].begin() + at[src + 1]);
      }
      ASSERT_EQ(static_cast<std::int64_t>(returned.size()), l.rows_sent());
      const RankTokens& tokens = layout.tokens(src);
      for (std::size_t i = 0; i < l.combine_positions.size(); ++i)
        if (l.combine_positions[i] >= 0) out[src][i / k] += tokens.weights[i] * returned[l.combine_positions[i]];
    }
  }
  for (int r = 0; r < ranks; ++r)
    for (std::int64_t t = 0; t < layout.tokens(r).tokens; ++t) EXPECT_NEAR(out[r][t], id(r, t), 1e-3 * id(r, t));
  for (int r = 0; r < ranks; ++r) {
    for (int writes : layer_writes[r]) ASSERT_EQ(writes, 1);
    const std::vector<std::int64_t>& slots = layout.layer_slot_offsets(r);
    for (std::size_t s = 0; s + 1 < slots.size(); ++s)
      for (std::int64_t i = slots[s]; i < slots[s + 1]; ++i) ASSERT_EQ(layer_expert[r][i], layout.slot_experts(r)[s]);
  }
}

INSTANTIATE_TEST_SUITE_P(Policies, LayoutTest,
                         ::testing::Values(std::pair{"contiguous", "none"}, std::pair{"contiguous", "fixed:4"},
                                           std::pair{"strided", "fixed:3"}, std::pair{"topology", "dynamic"},
                                           std::pair{"contiguous", "fine"}, std::pair{"strided", "fine"}));

TEST(TokenLayout, RejectsReplicatedExperts) {
  const NodePlans b;
  const BuiltPlan built = b.plan("replicate:2", "none");
  EXPECT_THROW(TokenLayout(built.chunks.at(0).parts, built.placement, b.scenario.model.top_k, 1), std::invalid_argument);
}

// A policy's verdict takes the worst of its output, input-gradient and weight-gradient errors: a
// NaN in any of them must fail it, wherever it stands.
TEST(Numerics, WorstErrorIsNanWhenAnyErrorIsNan) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_DOUBLE_EQ(worst_error({1e-4, 3e-3, 2e-5}), 3e-3);
  for (auto errors : {std::initializer_list<double>{nan, 1e-4, 1e-4}, {1e-4, nan, 1e-4}, {1e-4, 1e-4, nan}})
    EXPECT_TRUE(std::isnan(worst_error(errors)));
}

}  // namespace
}  // namespace comet
