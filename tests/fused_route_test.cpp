// The fused kernels' view of a Plan's token layout (validate/fused_route.hpp): for every chunk and
// destination rank, the fused dispatch's copies (kernels/fused_schedule.hpp), applied on the host
// to the sources' send buffers, must put into each local slot's rows exactly the token copies the
// layout routes there; the expert ranges must be the layout's slot ranges (what the weight
// gradient and the SwiGLU read); and the fused combine's sends must bring every row back to the
// place in its source's buffer it came from (what the unpermute reads).
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <utility>
#include <vector>

#include "fused_route.hpp"
#include "fused_schedule.hpp"
#include "node_plans.hpp"
#include "token_layout.hpp"

namespace comet {
namespace {

using testing::NodePlans;
using Copy = std::pair<int, std::int32_t>;  // (source rank, token)

class FusedRouteTest : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(FusedRouteTest, FusedSchedulesMoveTheLayoutsRows) {
  const NodePlans b;
  const auto [placement, partition] = GetParam();
  const BuiltPlan built = b.plan(placement, partition);
  const TokenLayout layout(built.chunks.at(0).parts, built.placement, b.scenario.model.top_k, 9);
  const int ranks = layout.num_ranks();
  for (int c = 0; c < layout.num_chunks(); ++c)
    for (int d = 0; d < ranks; ++d) {
      SCOPED_TRACE(::testing::Message() << "chunk " << c << ", rank " << d);
      const kernels::DispatchRoute route = fused_route(layout, c, d);
      const std::vector<std::int64_t> offsets = fused_source_offsets(layout, c, d);
      const ChunkLayout& mine = layout.chunk(c, d);
      ASSERT_EQ(route.sources, ranks);
      ASSERT_EQ(route.local_source, d);
      // Small tiles and bands, so that copies and sends cut pieces at many places.
      const kernels::FusedDispatchSchedule dispatch = kernels::make_fused_dispatch_schedule(route, 4, 3, 2, 2);
      ASSERT_EQ(dispatch.expert_first_row, mine.slot_offsets) << "the fused expert ranges are the layout's slot ranges";
      // Dispatch: what each expert-major row holds after the copies.
      std::vector<Copy> received(static_cast<std::size_t>(dispatch.total_rows()), Copy{-1, -1});
      for (const kernels::RowCopy& copy : dispatch.copies) {
        const ChunkLayout& source = layout.chunk(c, copy.source);
        for (std::int64_t r = 0; r < copy.rows; ++r) {
          const std::int64_t send_row = offsets[copy.source] + copy.source_row + r;
          ASSERT_LT(send_row, source.send_offsets[d + 1]) << "a copy reads past the source's piece for this rank";
          Copy& into = received[static_cast<std::size_t>(copy.dest_row + r)];
          ASSERT_EQ(into.first, -1) << "row " << copy.dest_row + r << " written twice";
          into = {copy.source, source.send_rows[static_cast<std::size_t>(send_row)]};
        }
      }
      // The layout's expert-major rows, slot by slot: the same copies (in another order within the slot).
      for (std::size_t slot = 0; slot + 1 < mine.slot_offsets.size(); ++slot) {
        std::vector<Copy> fused(received.begin() + mine.slot_offsets[slot], received.begin() + mine.slot_offsets[slot + 1]);
        std::vector<Copy> layout_rows;
        for (std::int64_t i = mine.slot_offsets[slot]; i < mine.slot_offsets[slot + 1]; ++i) {
          const std::int64_t row = mine.expert_rows[static_cast<std::size_t>(i)];
          const int source = static_cast<int>(std::upper_bound(mine.recv_offsets.begin(), mine.recv_offsets.end(), row) -
                                              mine.recv_offsets.begin()) - 1;
          const std::int64_t send_row = offsets[source] + (row - mine.recv_offsets[source]);
          layout_rows.push_back({source, layout.chunk(c, source).send_rows[static_cast<std::size_t>(send_row)]});
        }
        std::sort(fused.begin(), fused.end());
        std::sort(layout_rows.begin(), layout_rows.end());
        EXPECT_EQ(fused, layout_rows) << "slot " << slot;
      }
      // Combine: every expert-major row goes back once, to the send row it came from.
      const kernels::FusedCombineSchedule combine = kernels::make_fused_combine_schedule(route, 4, 3, 2, 2);
      std::vector<int> returned(received.size(), 0);
      for (const kernels::RowSend& send : combine.sends) {
        if (send.n != 0) continue;  // every N tile sends the same rows
        for (std::int64_t r = 0; r < send.rows; ++r) {
          const Copy& row = received[static_cast<std::size_t>(send.row + r)];
          ASSERT_EQ(row.first, send.source);
          const std::int64_t send_row = offsets[send.source] + send.dest_row + r;
          EXPECT_EQ(layout.chunk(c, send.source).send_rows[static_cast<std::size_t>(send_row)], row.second);
          ++returned[static_cast<std::size_t>(send.row + r)];
        }
      }
      for (int times : returned) ASSERT_EQ(times, 1);
    }
}

INSTANTIATE_TEST_SUITE_P(Policies, FusedRouteTest,
                         ::testing::Values(std::pair{"contiguous", "comet:8"}, std::pair{"strided", "comet:8"},
                                           std::pair{"contiguous", "fixed:4"}, std::pair{"topology", "fine"}));

}  // namespace
}  // namespace comet
