// The real executor's pipeline decisions (stream_schedule): every op once, dependencies and the
// double-buffer hazards ordered by stream order or event waits, and the same NCCL call order
// on every rank (a different order on one communicator deadlocks).
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "stream_schedule.hpp"
#include "node_plans.hpp"

namespace comet {
namespace {

Plan plan_for(const std::string& partition) { return testing::NodePlans().plan("contiguous", partition).plan; }

// happens_before[a] holds every op that must finish before op a starts on this rank.
std::map<std::int32_t, std::set<std::int32_t>> happens_before(const std::vector<ScheduledOp>& schedule) {
  std::map<std::int32_t, std::set<std::int32_t>> before;
  std::map<StreamRole, std::int32_t> last_on;
  for (const ScheduledOp& s : schedule) {
    std::set<std::int32_t>& mine = before[s.op];
    std::vector<std::int32_t> direct(s.waits.begin(), s.waits.end());
    if (last_on.count(s.stream)) direct.push_back(last_on[s.stream]);
    for (std::int32_t d : direct) {
      mine.insert(d);
      mine.insert(before[d].begin(), before[d].end());
    }
    last_on[s.stream] = s.op;
  }
  return before;
}

class ScheduleTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ScheduleTest, EveryOpOnceAndEveryDependencyOrdered) {
  const Plan plan = plan_for(GetParam());
  for (int rank = 0; rank < 4; ++rank) {
    const std::vector<ScheduledOp> schedule = schedule_rank(plan, rank);
    std::set<std::int32_t> scheduled;
    std::int32_t previous = -1;
    for (const ScheduledOp& s : schedule) {
      EXPECT_GT(s.op, previous) << "plan order";
      previous = s.op;
      EXPECT_TRUE(scheduled.insert(s.op).second);
      for (std::int32_t w : s.waits) EXPECT_TRUE(scheduled.count(w) && w != s.op) << "waits only for earlier ops";
    }
    int expected = 0;
    for (const Op& op : plan.ops()) expected += runs_on(op, rank) ? 1 : 0;
    EXPECT_EQ(static_cast<int>(schedule.size()), expected);
    const auto before = happens_before(schedule);
    for (const ScheduledOp& s : schedule)
      for (std::int32_t dep : plan.deps(s.op))
        if (scheduled.count(dep)) {
          EXPECT_TRUE(before.at(s.op).count(dep)) << "op " << s.op << " not after dep " << dep;
        }
  }
}

// Chunk c rewrites the staging slot of chunk c - 2: its receive-side writer must come after
// chunk c-2's GEMM, and its GEMM after chunk c-2's last reader of the combine buffers.
TEST_P(ScheduleTest, DoubleBuffersAreNotOverwrittenWhileRead) {
  const Plan plan = plan_for(GetParam());
  for (int rank = 0; rank < 4; ++rank) {
    const std::vector<ScheduledOp> schedule = schedule_rank(plan, rank);
    const auto before = happens_before(schedule);
    std::map<std::tuple<Direction, int, OpKind>, std::int32_t> op_of;
    for (const ScheduledOp& s : schedule) {
      const Op& op = plan.ops()[s.op];
      if (op.kind != OpKind::ALL_TO_ALL) op_of[{op.tags.direction, op.tags.chunk, op.kind}] = op.id;
    }
    int checked = 0;
    for (const auto& [key, id] : op_of) {
      const auto [direction, chunk, kind] = key;
      if (chunk < 2) continue;
      const bool forward = direction == Direction::FORWARD;
      const OpKind writer = forward ? OpKind::PERMUTE : OpKind::UNPERMUTE;
      const OpKind last_reader = forward ? OpKind::UNPERMUTE : OpKind::PERMUTE;
      if (kind == writer) {
        EXPECT_TRUE(before.at(id).count(op_of.at({direction, chunk - 2, OpKind::EXPERT_GEMM})));
        ++checked;
      }
      if (kind == OpKind::EXPERT_GEMM) {
        EXPECT_TRUE(before.at(id).count(op_of.at({direction, chunk - 2, last_reader})));
        ++checked;
      }
    }
    const int chunks = std::string(GetParam()) == "fixed:4" ? 4 : 1;
    if (chunks >= 3) {
      EXPECT_EQ(checked, 2 * 2 * (chunks - 2));  // two hazards, two directions
    }
  }
}

TEST_P(ScheduleTest, EveryRankIssuesTheSameCallsOnEachCommunicator) {
  const Plan plan = plan_for(GetParam());
  auto calls = [&](int rank, StreamRole role) {
    std::vector<std::int32_t> ids;
    for (const ScheduledOp& s : schedule_rank(plan, rank))
      if (plan.ops()[s.op].kind == OpKind::ALL_TO_ALL && s.stream == role) ids.push_back(s.op);
    return ids;
  };
  for (StreamRole role : {StreamRole::DISPATCH, StreamRole::COMBINE}) {
    EXPECT_FALSE(calls(0, role).empty());
    for (int rank = 1; rank < 4; ++rank) EXPECT_EQ(calls(rank, role), calls(0, role));
  }
}

INSTANTIATE_TEST_SUITE_P(Partitions, ScheduleTest, ::testing::Values("none", "fixed:4", "dynamic", "fine"));

}  // namespace
}  // namespace comet
