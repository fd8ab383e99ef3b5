// Where the ranks of a comet:B run between GPUs wait for each other (validate/fused_rank_order.hpp),
// on the Plans the validator runs (4 GPUs, ragged routing): every milestone an op waits for is
// reached by one op of every rank, each earlier in the Plan than the waiting op (ranks enqueue in
// Plan order, so no rank waits on the host for a rank that waits for it); every fused launch and
// every op reading or overwriting a buffer the launches of other ranks touch waits for the right
// milestone; and the board hands out a run's events only once every rank posted them.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "fused_rank_order.hpp"
#include "node_plans.hpp"

namespace comet {
namespace {

TEST(FusedRankOrder, EveryAwaitedMilestoneIsReachedEarlierByEveryRank) {
  const testing::NodePlans b;
  for (const char* placement : {"contiguous", "strided"}) {
    SCOPED_TRACE(placement);
    const BuiltPlan built = b.plan(placement, "comet:8");
    const Plan& plan = built.plan;
    std::map<FusedMilestoneKey, std::map<std::int32_t, std::int32_t>> reached;  // key -> gpu -> op id
    for (const Op& op : plan.ops())
      if (const auto key = milestone_reached(op)) {
        ASSERT_GE(op.gpu, 0) << "op " << op.id << ": a milestone is one rank's";
        ASSERT_TRUE(reached[*key].emplace(op.gpu, op.id).second) << "op " << op.id << ": one op per rank and milestone";
      }
    int waits = 0;
    for (const Op& op : plan.ops()) {
      const auto key = milestone_awaited(op);
      if (!key) continue;
      ++waits;
      const auto found = reached.find(*key);
      ASSERT_NE(found, reached.end()) << "op " << op.id << " waits for a milestone no op reaches";
      EXPECT_EQ(static_cast<int>(found->second.size()), plan.header().num_gpus) << "op " << op.id;
      for (const auto& [gpu, producer] : found->second) EXPECT_LT(producer, op.id) << "op " << op.id << " on GPU " << op.gpu;
    }
    // Per GPU: forward first launch and unpermute; backward send op, both launches and permute.
    EXPECT_EQ(waits, 6 * plan.header().num_gpus);
  }
}

TEST(FusedRankOrder, TheLaunchesAndTheOpsBesideThemWaitForTheRightMilestones) {
  const testing::NodePlans b;
  const BuiltPlan built = b.plan("contiguous", "comet:8");
  const Plan& plan = built.plan;
  std::map<std::pair<OpKind, std::pair<Direction, int>>, FusedMilestone> awaited;
  for (const Op& op : plan.ops())
    if (const auto key = milestone_awaited(op)) awaited[{op.kind, {op.tags.direction, op.tags.stage}}] = key->milestone;
  const auto expect = [&](OpKind kind, Direction direction, int stage, FusedMilestone milestone) {
    const auto found = awaited.find({kind, {direction, stage}});
    ASSERT_NE(found, awaited.end()) << to_string(kind) << " " << to_string(direction) << " stage " << stage;
    EXPECT_EQ(found->second, milestone) << to_string(kind) << " " << to_string(direction) << " stage " << stage;
  };
  // Reads after writes.
  expect(OpKind::EXPERT_GEMM, Direction::FORWARD, 0, FusedMilestone::SENT_FORWARD);
  expect(OpKind::UNPERMUTE, Direction::FORWARD, 0, FusedMilestone::PUSHED_FORWARD);
  expect(OpKind::EXPERT_GEMM, Direction::BACKWARD, 0, FusedMilestone::SENT_BACKWARD);
  expect(OpKind::PERMUTE, Direction::BACKWARD, 0, FusedMilestone::PUSHED_BACKWARD);
  // Writes after reads: the send and combine buffers are reused by the backward pass.
  expect(OpKind::UNPERMUTE, Direction::BACKWARD, 0, FusedMilestone::PULLED_FORWARD);
  expect(OpKind::EXPERT_GEMM, Direction::BACKWARD, 1, FusedMilestone::COMBINED_FORWARD);
}

TEST(FusedRankOrder, TheBoardHandsOutARunsEventsOnceEveryRankPostedThem) {
  MilestoneBoard<int> board(3);
  const FusedMilestoneKey key{FusedMilestone::SENT_FORWARD, 0, 0};
  std::atomic<bool> failed{false};
  board.publish(7, key, 0, 100);
  board.publish(6, key, 1, 61);  // an earlier run's post does not count for run 7
  std::vector<int> got;
  std::thread waiter([&] { got = board.wait_all(7, key, failed); });
  board.publish(7, key, 2, 102);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(got.empty()) << "two of three ranks posted";
  board.publish(7, key, 1, 101);
  waiter.join();
  EXPECT_EQ(got, (std::vector<int>{100, 101, 102}));
  board.forget_before(7);
  std::thread stopped([&] { EXPECT_THROW(board.wait_all(6, key, failed), std::runtime_error); });
  failed = true;  // run 6 was forgotten and will never complete: a failed rank ends the wait
  stopped.join();
}

}  // namespace
}  // namespace comet
