// The fused combine's copy-engine copies (kernels/engine_copies.hpp): on random ragged routes,
// every element every send covers is in exactly one copy, at the right place of the right source,
// after waits on every tile it was computed in, in the order of the sends; the merging reaches what
// it is for (one source's rows of a band, or of a few columns, in one copy) and no further (the
// span; sends contiguous on one side only).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <tuple>
#include <vector>

#include "engine_copies.hpp"
#include "fused_schedule.hpp"
#include "random_dispatch_route.hpp"

namespace comet::kernels {
namespace {

// (source, dest row, column) -> (output row, done flag) of every element a send covers.
using Cell = std::tuple<int, std::int64_t, std::int64_t>;

TEST(EngineCopies, EveryElementOfEverySendIsCopiedOnceToItsPlaceAfterItsTile) {
  std::mt19937_64 rng(20261207);
  for (int trial = 0; trial < 300; ++trial) {
    const DispatchRoute route = random_dispatch_route(rng, {6, 5, 40});
    const int tile_m = std::uniform_int_distribution<int>(1, 8)(rng), tile_n = std::uniform_int_distribution<int>(1, 4)(rng);
    const std::int64_t n = std::uniform_int_distribution<std::int64_t>(1, 10)(rng);
    const int n_tiles = static_cast<int>((n + tile_n - 1) / tile_n);
    const int band = std::uniform_int_distribution<int>(0, 3)(rng), cluster_m = std::uniform_int_distribution<int>(1, 2)(rng);
    const auto order = std::uniform_int_distribution<int>(0, 1)(rng) ? CombineOrder::EXPERT : CombineOrder::LOCAL_LAST;
    const auto stores = std::uniform_int_distribution<int>(0, 1)(rng) ? CombineStores::SEND : CombineStores::LOCAL_DIRECT;
    const FusedCombineSchedule s = make_fused_combine_schedule(route, tile_m, n_tiles, cluster_m, band, order, stores);
    std::map<Cell, std::pair<std::int64_t, int>> wanted;
    for (const RowSend& send : s.sends)
      for (std::int64_t r = 0; r < send.rows; ++r)
        for (std::int64_t c = send.n * tile_n; c < std::min<std::int64_t>(n, (send.n + 1) * tile_n); ++c)
          ASSERT_TRUE(wanted.emplace(Cell{send.source, send.dest_row + r, c}, std::pair{send.row + r, send.done_flag}).second);
    const std::vector<EngineCopy> copies = merge_engine_copies(s, n, tile_n);
    std::set<Cell> copied;
    for (const EngineCopy& copy : copies) {
      ASSERT_GT(copy.rows, 0);
      ASSERT_GT(copy.columns, 0);
      EXPECT_EQ(std::set<int>(copy.flags.begin(), copy.flags.end()).size(), copy.flags.size()) << "a flag waited twice";
      for (std::int64_t r = 0; r < copy.rows; ++r)
        for (std::int64_t c = copy.column; c < copy.column + copy.columns; ++c) {
          const Cell cell{copy.source, copy.dest_row + r, c};
          const auto it = wanted.find(cell);
          ASSERT_NE(it, wanted.end()) << "copied where no send goes, trial " << trial;
          EXPECT_EQ(it->second.first, copy.row + r) << "from the wrong output row";
          EXPECT_NE(std::find(copy.flags.begin(), copy.flags.end(), it->second.second), copy.flags.end())
              << "copied without waiting for its tile, trial " << trial;
          EXPECT_TRUE(copied.insert(cell).second) << "copied twice, trial " << trial;
        }
    }
    EXPECT_EQ(copied.size(), wanted.size()) << "a send's element never copied, trial " << trial;
  }
}

// Copies come in the order of their first sends (the stream takes them in that order), and the
// sends a copy names as its first and last are its own.
TEST(EngineCopies, CopiesComeInTheOrderOfTheirFirstSends) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 100; ++trial) {
    const DispatchRoute route = random_dispatch_route(rng, {6, 5, 40});
    const FusedCombineSchedule s = make_fused_combine_schedule(route, 4, 3, 2, trial % 3, CombineOrder::LOCAL_LAST, CombineStores::SEND);
    int previous_first = -1;
    for (const EngineCopy& copy : merge_engine_copies(s, 12, 4)) {
      EXPECT_GT(copy.first_send, previous_first) << "trial " << trial;
      previous_first = copy.first_send;
      for (int index : {copy.first_send, copy.last_send}) {
        const RowSend& send = s.sends.at(static_cast<std::size_t>(index));
        EXPECT_EQ(send.source, copy.source);
        EXPECT_GE(send.row, copy.row);
        EXPECT_LE(send.row + send.rows, copy.row + copy.rows);
        EXPECT_NE(std::find(copy.flags.begin(), copy.flags.end(), send.done_flag), copy.flags.end());
      }
      EXPECT_LT(copy.last_send - copy.first_send, ENGINE_COPY_SPAN);
    }
  }
}

// Every copy of `copies` (there must be `count`) is whole rows: `rows` rows of all `columns`
// columns, waiting for `flags` tiles, never to this GPU's own buffer (`local`).
void expect_whole_row_copies(const std::vector<EngineCopy>& copies, std::size_t count, std::int64_t rows, std::int64_t columns,
                             std::size_t flags, int local) {
  ASSERT_EQ(copies.size(), count);
  for (const EngineCopy& c : copies) {
    EXPECT_EQ(c.rows, rows);
    EXPECT_EQ(c.column, 0);
    EXPECT_EQ(c.columns, columns);
    EXPECT_EQ(c.flags.size(), flags);
    EXPECT_NE(c.source, local);
  }
}

// Mixtral's combine at 4K tokens on one of 2 GPUs, cut small: 2 experts, 4 sources of 8 rows each,
// tiles of 4 rows x 2 columns, clusters of 2 along M, 3 N tiles (6 columns, the last tile whole).
TEST(EngineCopies, MergesOneSourcesRowsOfABandOrOfAFewColumnsIntoOneCopy) {
  const DispatchRoute route{4, 2, 0, {8, 8, 8, 8, 8, 8, 8, 8}};
  const auto copies_of = [](const DispatchRoute& r, int band, CombineStores stores) {
    return merge_engine_copies(make_fused_combine_schedule(r, 4, 3, 2, band, CombineOrder::EXPERT, stores), 6, 2);
  };
  // Expert order, one band per expert: an expert's 18 sends are within the span, so per expert and
  // remote source one copy of whole rows (the source's two M tiles in 3 N tiles).
  expect_whole_row_copies(copies_of(route, 0, CombineStores::LOCAL_DIRECT), 2 * 3, 8, 6, 6, route.local_source);
  // Bands of 2 M tiles (one source's 8 rows): the same, band by band.
  expect_whole_row_copies(copies_of(route, 2, CombineStores::LOCAL_DIRECT), 2 * 3, 8, 6, 6, route.local_source);
  // Sources of 4 rows and bands of 2 M tiles (8 rows, two sources): per band and source one copy of
  // whole rows, though the two sources' tiles alternate column by column (the own rows sent too).
  const DispatchRoute halves{4, 1, 0, {4, 4, 4, 4}};
  expect_whole_row_copies(copies_of(halves, 2, CombineStores::SEND), 4, 4, 6, 3, -1);
  // One remote source's tile in each of 100 N tiles of one column: a copy takes in the sends of at
  // most ENGINE_COPY_SPAN columns, so that it does not wait for tiles computed much later.
  const DispatchRoute wide{2, 1, 0, {4, 4}};
  const std::vector<EngineCopy> spans =
      merge_engine_copies(make_fused_combine_schedule(wide, 4, 100, 1, 0, CombineOrder::EXPERT, CombineStores::LOCAL_DIRECT), 100, 1);
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].columns, ENGINE_COPY_SPAN);
  EXPECT_EQ(spans[1].column, ENGINE_COPY_SPAN);
  EXPECT_EQ(spans[1].columns, 100 - ENGINE_COPY_SPAN);
  for (const EngineCopy& c : spans) EXPECT_LT(c.last_send - c.first_send, ENGINE_COPY_SPAN);
}

// Sends contiguous in the output but not at the destination (or the other way round, or in
// another source's buffer) stay separate copies: a merged copy would write rows where none go.
TEST(EngineCopies, KeepsApartSendsContiguousOnOneSideOnly) {
  FusedCombineSchedule s;
  s.tile_m = 4;
  s.n_tiles = 2;
  const auto send = [](int flag, int source, int n, std::int64_t row, std::int64_t dest_row) {
    RowSend r;
    r.done_flag = flag, r.source = source, r.n = n, r.row = row, r.dest_row = dest_row, r.rows = 4;
    return r;
  };
  // Down: rows 0-3 then 4-7 of the output, but to dest rows 0-3 and 8-11 (or 4-7 of another source).
  s.sends = {send(0, 1, 0, 0, 0), send(1, 1, 0, 4, 8), send(2, 2, 0, 8, 4)};
  EXPECT_EQ(merge_engine_copies(s, 4, 2).size(), 3u);
  // Across: the same output rows in the next column, but other dest rows (or another source).
  s.sends = {send(0, 1, 0, 0, 0), send(1, 1, 1, 0, 4), send(2, 2, 1, 0, 0)};
  EXPECT_EQ(merge_engine_copies(s, 4, 2).size(), 3u);
  // Both sides contiguous: one copy each way.
  s.sends = {send(0, 1, 0, 0, 0), send(1, 1, 0, 4, 4)};
  EXPECT_EQ(merge_engine_copies(s, 4, 2).size(), 1u);
  s.sends = {send(0, 1, 0, 0, 0), send(1, 1, 1, 0, 0)};
  EXPECT_EQ(merge_engine_copies(s, 4, 2).size(), 1u);
}

}  // namespace
}  // namespace comet::kernels
