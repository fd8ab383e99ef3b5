// The fused dispatch's tile schedule (kernels/fused_schedule.hpp) on ragged routes with
// zero-row experts and sources without tokens: every row copied once to the right place, every
// output tile computed once, flags that count exactly a tile's rows, local rows first and tiles in
// the order their rows arrive (local pass, then expert by expert).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <set>
#include <algorithm>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "fused_schedule.hpp"
#include "random_dispatch_route.hpp"

namespace comet::kernels {
namespace {

// Where work unit (expert, m, n) comes in an expert's band order with bands of band_tiles M tiles
// (rounded up to whole clusters; 0: one band): (expert, band, n, m), compared as a tuple.
std::tuple<int, int, int, int> band_order_key(int expert, int m, int n, int band_tiles, int cluster_m) {
  const int band = band_tiles == 0 ? 1 << 30 : (band_tiles + cluster_m - 1) / cluster_m * cluster_m;
  return {expert, m / band, n, m};
}

// Checks every property of one schedule; returns nothing, fails through gtest.
void check_schedule(const DispatchRoute& route, const FusedDispatchSchedule& s, int band_tiles) {
  const int tile_m = s.tile_m;
  // Pull order: a permutation of the sources starting with the destination's own.
  ASSERT_EQ(static_cast<int>(s.pull_order.size()), route.sources);
  EXPECT_EQ(s.pull_order.front(), route.local_source);
  EXPECT_EQ(std::set<int>(s.pull_order.begin(), s.pull_order.end()).size(), static_cast<std::size_t>(route.sources));

  // Receive layout: expert by expert, each the sum of its sources' rows.
  std::int64_t expected_total = 0;
  for (int e = 0; e < route.experts; ++e) {
    std::int64_t rows = 0;
    for (int src = 0; src < route.sources; ++src) rows += route.rows_of(e, src);
    EXPECT_EQ(s.expert_first_row[e + 1] - s.expert_first_row[e], rows) << "expert " << e;
    EXPECT_EQ(s.expert_first_flag[e + 1] - s.expert_first_flag[e], (rows + tile_m - 1) / tile_m) << "expert " << e;
    expected_total += rows;
  }
  EXPECT_EQ(s.total_rows(), expected_total);

  // Copies: every source row once, every receive row once, within one M tile of its expert; the
  // local pass (wave 0, every expert) first, then expert by expert, each in wave order; each
  // source's rows for an expert contiguous at the offset the layout says.
  std::vector<int> received(static_cast<std::size_t>(s.total_rows()), 0);
  std::map<std::pair<int, int>, std::vector<std::pair<std::int64_t, std::int64_t>>> source_rows;  // (source, expert) -> runs
  std::vector<std::int64_t> flag_rows(static_cast<std::size_t>(s.flag_count()), 0);
  std::vector<int> flag_wave(static_cast<std::size_t>(s.flag_count()), -1);
  bool expert_pass = false;
  int previous_expert = -1, previous_wave = 0;
  std::vector<std::size_t> last_copy_of_flag(static_cast<std::size_t>(s.flag_count()), 0);
  for (std::size_t i = 0; i < s.copies.size(); ++i) {
    const RowCopy& c = s.copies[i];
    ASSERT_GT(c.rows, 0);
    if (c.wave > 0 && !expert_pass) expert_pass = true, previous_expert = -1;
    if (expert_pass) {
      EXPECT_GT(c.wave, 0) << "a local copy after the local pass";
      EXPECT_GE(c.expert, previous_expert) << "expert pass out of expert order";
      if (c.expert == previous_expert) {
        EXPECT_GE(c.wave, previous_wave) << "an expert's sources out of wave order";
      }
    } else {
      EXPECT_GE(c.expert, previous_expert) << "local pass out of expert order";
    }
    previous_expert = c.expert, previous_wave = c.wave;
    last_copy_of_flag[static_cast<std::size_t>(c.flag)] = i;
    EXPECT_EQ(s.pull_order[c.wave], c.source);
    const std::int64_t first = s.expert_first_row[c.expert], in_expert = c.dest_row - first;
    ASSERT_GE(in_expert, 0);
    ASSERT_LE(c.dest_row + c.rows, s.expert_first_row[c.expert + 1]) << "copy past its expert";
    EXPECT_EQ(in_expert / tile_m, (in_expert + c.rows - 1) / tile_m) << "copy spans two M tiles";
    EXPECT_EQ(c.flag, s.expert_first_flag[c.expert] + in_expert / tile_m);
    for (std::int64_t r = 0; r < c.rows; ++r) ++received[static_cast<std::size_t>(c.dest_row + r)];
    source_rows[{c.source, c.expert}].push_back({c.source_row, c.rows});
    flag_rows[static_cast<std::size_t>(c.flag)] += c.rows;
    flag_wave[static_cast<std::size_t>(c.flag)] = std::max(flag_wave[static_cast<std::size_t>(c.flag)], c.wave);
  }
  for (std::size_t r = 0; r < received.size(); ++r) ASSERT_EQ(received[r], 1) << "receive row " << r;
  for (int src = 0; src < route.sources; ++src) {
    std::int64_t offset = 0;  // rows of this source for earlier experts
    for (int e = 0; e < route.experts; ++e) {
      std::int64_t next = offset;
      for (const auto& [row, rows] : source_rows[{src, e}]) {
        EXPECT_EQ(row, next) << "source " << src << " expert " << e << ": rows not contiguous in order";
        next += rows;
      }
      EXPECT_EQ(next - offset, route.rows_of(e, src)) << "source " << src << " expert " << e;
      offset += route.rows_of(e, src);
    }
  }
  // Within an expert, earlier waves hold earlier rows: local rows first.
  for (int e = 0; e < route.experts; ++e) {
    std::int64_t last_row = -1;
    int last_wave = -1;
    for (const RowCopy& c : s.copies)
      if (c.expert == e) {
        EXPECT_GT(c.dest_row, last_row);
        EXPECT_GE(c.wave, last_wave);
        last_row = c.dest_row, last_wave = c.wave;
      }
  }

  // Tiles: every (expert, M tile, N tile) once, waiting for exactly its rows; the local pass (tiles
  // of own rows only, ready before any remote row moves) first, then expert by expert in the order
  // the copies finish the experts, each expert band by band, N column by N column, M tiles in order.
  std::size_t local_copies = 0;
  while (local_copies < s.copies.size() && s.copies[local_copies].wave == 0) ++local_copies;
  std::set<std::tuple<int, int, int>> seen;
  bool tile_expert_pass = false;
  std::tuple<int, int, int, int> previous{-1, 0, 0, 0};
  std::vector<std::size_t> expert_ready;  // per expert of the expert pass, in tile order: its last copy
  for (const GemmTile& t : s.tiles) {
    ASSERT_GE(t.n, 0);
    ASSERT_LT(t.n, s.n_tiles);
    ASSERT_EQ(t.m % s.cluster_m, 0) << "a work unit not aligned to the cluster";
    const int m_tiles = s.expert_first_flag[t.expert + 1] - s.expert_first_flag[t.expert];
    ASSERT_LT(t.m, m_tiles);
    // Its M tiles (those the expert has): each computed once, ready when its flag counts its rows.
    int wave = 0;
    std::size_t ready = 0;
    for (int m = t.m; m < std::min(t.m + s.cluster_m, m_tiles); ++m) {
      EXPECT_TRUE(seen.insert({t.expert, m, t.n}).second) << "tile computed twice";
      const std::size_t flag = static_cast<std::size_t>(s.expert_first_flag[t.expert] + m);
      const std::int64_t rows = s.expert_first_row[t.expert + 1] - s.expert_first_row[t.expert];
      EXPECT_EQ(s.flag_rows[flag], std::min<std::int64_t>(tile_m, rows - static_cast<std::int64_t>(m) * tile_m));
      EXPECT_EQ(flag_rows[flag], s.flag_rows[flag]) << "the flag's copies do not fill the tile";
      wave = std::max(wave, flag_wave[flag]);
      ready = std::max(ready, last_copy_of_flag[flag]);
    }
    EXPECT_EQ(t.wave, wave);
    if (t.wave > 0 && !tile_expert_pass) tile_expert_pass = true, previous = {-1, 0, 0, 0};
    if (tile_expert_pass) {
      EXPECT_GT(t.wave, 0) << "a local-pass tile after the expert pass began";
      if (expert_ready.empty() || std::get<0>(previous) != t.expert) expert_ready.push_back(0);
      expert_ready.back() = std::max(expert_ready.back(), ready);
    } else {
      EXPECT_LT(ready, local_copies) << "a local-pass tile waits for a remote row";
    }
    const auto key = band_order_key(t.expert, t.m, t.n, band_tiles, s.cluster_m);
    EXPECT_LT(previous, key) << "tiles out of (expert, band, N, M) order within a pass";
    previous = key;
  }
  for (std::size_t i = 1; i < expert_ready.size(); ++i)
    EXPECT_LT(expert_ready[i - 1], expert_ready[i]) << "the GEMM takes an expert before one whose rows arrive earlier";
  EXPECT_EQ(static_cast<std::int64_t>(seen.size()), static_cast<std::int64_t>(s.flag_count()) * s.n_tiles);
}

TEST(FusedDispatchSchedule, RandomRaggedRoutesKeepEveryInvariant) {
  std::mt19937_64 rng(2026);
  for (int trial = 0; trial < 300; ++trial) {
    const DispatchRoute route = random_dispatch_route(rng);
    const int tile_m = std::vector<int>{1, 16, 64, 128}[trial % 4];
    const int n_tiles = 1 + trial % 3, cluster_m = 1 + trial % 2, band_tiles = std::vector<int>{0, 1, 2, 3, 5}[trial % 5];
    SCOPED_TRACE(::testing::Message() << "trial " << trial << ": " << route.sources << " sources, " << route.experts
                                      << " experts, local " << route.local_source << ", tile_m " << tile_m << ", cluster_m " << cluster_m
                                      << ", band " << band_tiles);
    check_schedule(route, make_fused_dispatch_schedule(route, tile_m, n_tiles, cluster_m, band_tiles), band_tiles);
    if (::testing::Test::HasFailure()) return;
  }
}

// A small case worked by hand: 2 sources, destination 1; expert 0 gets 3 rows from source 0 and 2
// from source 1 (its own), expert 1 nothing, expert 2 one row from source 0; tiles of 4 rows.
TEST(FusedDispatchSchedule, HandWorkedCase) {
  const DispatchRoute route{2, 3, 1, {3, 2, 0, 0, 1, 0}};
  const FusedDispatchSchedule s = make_fused_dispatch_schedule(route, 4, 1);
  EXPECT_EQ(s.pull_order, (std::vector<int>{1, 0}));
  EXPECT_EQ(s.expert_first_row, (std::vector<std::int64_t>{0, 5, 5, 6}));
  EXPECT_EQ(s.expert_first_flag, (std::vector<int>{0, 2, 2, 3}));
  ASSERT_EQ(s.copies.size(), 4u);
  // Wave 0 (own rows): expert 0's 2 rows into receive rows 0-1 (tile 0).
  EXPECT_EQ(std::tie(s.copies[0].source, s.copies[0].source_row, s.copies[0].dest_row, s.copies[0].rows, s.copies[0].flag),
            std::make_tuple(1, std::int64_t{0}, std::int64_t{0}, std::int64_t{2}, 0));
  // Wave 1 (source 0): expert 0's 3 rows fill rows 2-3 (tile 0) and row 4 (tile 1); expert 2's row
  // is source row 3 (after expert 0's 3), receive row 5.
  EXPECT_EQ(std::tie(s.copies[1].source_row, s.copies[1].dest_row, s.copies[1].rows, s.copies[1].flag),
            std::make_tuple(std::int64_t{0}, std::int64_t{2}, std::int64_t{2}, 0));
  EXPECT_EQ(std::tie(s.copies[2].source_row, s.copies[2].dest_row, s.copies[2].rows, s.copies[2].flag),
            std::make_tuple(std::int64_t{2}, std::int64_t{4}, std::int64_t{1}, 1));
  EXPECT_EQ(std::tie(s.copies[3].source_row, s.copies[3].dest_row, s.copies[3].rows, s.copies[3].flag),
            std::make_tuple(std::int64_t{3}, std::int64_t{5}, std::int64_t{1}, 2));
  ASSERT_EQ(s.tiles.size(), 3u);
  for (const GemmTile& t : s.tiles) EXPECT_EQ(t.wave, 1);  // every tile needs source 0's rows: no local pass
  EXPECT_EQ(s.flag_rows, (std::vector<std::int64_t>{4, 1, 1}));
  EXPECT_EQ(std::tie(s.tiles[1].expert, s.tiles[1].m, s.tiles[2].expert, s.tiles[2].m), std::make_tuple(0, 1, 2, 0));
}

// The combine stores every output row of every N tile once, back at the very (source, row) the
// dispatch brought it from: straight from the GEMM's epilogue for the groups stored directly (this
// GPU's own rows with LOCAL_DIRECT, every row with ALL_DIRECT), else by one send after the tile
// holding it is done. Groups cover every row once within one expert; units in (expert, band, N,
// group, M) order, and with LOCAL_LAST the units made only of the local source's rows after all others
// (each part in that order).
TEST(FusedCombineSchedule, RandomRoutesStoreEveryOutputRowBackWhereItCameFrom) {
  std::mt19937_64 rng(2027);
  int reordered = 0;  // LOCAL_LAST trials with both kinds of unit: the order is tested, not vacuous
  std::map<CombineStores, int> direct_rows;  // rows stored directly, per mode: not vacuous either
  for (int trial = 0; trial < 600; ++trial) {
    const DispatchRoute route = random_dispatch_route(rng);
    const int tile_m = std::vector<int>{1, 16, 64, 128}[trial % 4], n_tiles = 1 + trial % 3, cluster_m = 1 + trial % 2;
    const int band_tiles = std::vector<int>{0, 1, 2, 3, 5}[trial % 5];
    const CombineOrder order = (trial / 2) % 2 ? CombineOrder::LOCAL_LAST : CombineOrder::EXPERT;
    const CombineStores stores = std::vector<CombineStores>{CombineStores::SEND, CombineStores::LOCAL_DIRECT, CombineStores::ALL_DIRECT}[(trial / 4) % 3];
    SCOPED_TRACE(::testing::Message() << "trial " << trial << ": " << route.sources << " sources, " << route.experts << " experts, tile_m "
                                      << tile_m << ", cluster_m " << cluster_m << ", band " << band_tiles << ", local last "
                                      << (order == CombineOrder::LOCAL_LAST) << ", stores " << static_cast<int>(stores));
    const FusedDispatchSchedule dispatch = make_fused_dispatch_schedule(route, tile_m, n_tiles, cluster_m);
    const FusedCombineSchedule s = make_fused_combine_schedule(route, tile_m, n_tiles, cluster_m, band_tiles, order, stores);
    ASSERT_EQ(s.expert_first_row, dispatch.expert_first_row);
    // Where the dispatch brought each expert-major row from.
    std::vector<std::pair<int, std::int64_t>> origin(static_cast<std::size_t>(s.total_rows()));
    for (const RowCopy& c : dispatch.copies)
      for (std::int64_t r = 0; r < c.rows; ++r) origin[static_cast<std::size_t>(c.dest_row + r)] = {c.source, c.source_row + r};
    // Groups: every row in exactly one, in expert and row order; a direct group's rows land where they came from.
    std::vector<int> group_of_row(static_cast<std::size_t>(s.total_rows()), -1);
    std::int64_t next_row = 0;
    for (int g = 0; g < static_cast<int>(s.groups.size()); ++g) {
      const CombineGroup& group = s.groups[g];
      ASSERT_GT(group.rows, 0);
      EXPECT_EQ(group.first_row, next_row) << "group " << g;
      next_row = group.first_row + group.rows;
      EXPECT_GE(group.first_row, s.expert_first_row[group.expert]);
      EXPECT_LE(group.first_row + group.rows, s.expert_first_row[group.expert + 1]);
      for (std::int64_t r = 0; r < group.rows; ++r) {
        const std::pair<int, std::int64_t> from = origin[static_cast<std::size_t>(group.first_row + r)];
        group_of_row[static_cast<std::size_t>(group.first_row + r)] = g;
        const bool want_direct = stores == CombineStores::ALL_DIRECT || (stores == CombineStores::LOCAL_DIRECT && from.first == route.local_source);
        ASSERT_EQ(group.direct_source >= 0, want_direct) << "group " << g << " row " << r;
        if (want_direct) {
          EXPECT_EQ(from, std::make_pair(group.direct_source, group.dest_row + r)) << "group " << g << " row " << r;
        }
      }
      if (group.direct_source >= 0) direct_rows[stores] += static_cast<int>(group.rows);
    }
    EXPECT_EQ(next_row, s.total_rows());
    // Whether a unit's rows all came from the local source (by the dispatch's copies).
    const auto unit_rows = [&](const GemmTile& t) {
      const CombineGroup& g = s.groups[t.group];
      const std::int64_t first = g.first_row + static_cast<std::int64_t>(t.m) * tile_m;
      return std::make_pair(first, std::min(first + static_cast<std::int64_t>(cluster_m) * tile_m, g.first_row + g.rows));
    };
    const auto local_only = [&](const GemmTile& t) {
      const auto [first, end] = unit_rows(t);
      for (std::int64_t r = first; r < end; ++r)
        if (origin[static_cast<std::size_t>(r)].first != route.local_source) return false;
      return true;
    };
    std::set<std::tuple<int, int, int>> units;
    std::tuple<bool, std::tuple<int, int, int, int, int>> previous{false, {-1, 0, 0, 0, 0}};
    int local_units = 0, tiles = 0;
    for (const GemmTile& t : s.tiles) {
      ASSERT_EQ(t.m % cluster_m, 0);
      ASSERT_GE(t.group, 0);
      ASSERT_LT(t.group, static_cast<int>(s.groups.size()));
      EXPECT_EQ(t.expert, s.groups[t.group].expert);
      local_units += local_only(t);
      // (expert, band, n, group, m): band b of every group of the expert together.
      const auto [expert, band, n, m] = band_order_key(t.expert, t.m, t.n, band_tiles, cluster_m);
      const auto key = std::make_tuple(order == CombineOrder::LOCAL_LAST && local_only(t), std::make_tuple(expert, band, n, t.group, m));
      EXPECT_LT(previous, key);
      previous = key;
      for (int m = t.m; m < std::min(t.m + cluster_m, s.m_tiles(t.group)); ++m, ++tiles) EXPECT_TRUE(units.insert({t.group, m, t.n}).second);
    }
    int group_tiles = 0;
    for (int g = 0; g < static_cast<int>(s.groups.size()); ++g) group_tiles += s.m_tiles(g) * n_tiles;
    EXPECT_EQ(tiles, group_tiles) << "every M tile of every group, once per N tile";
    // Sends: every row of the groups not stored directly, once per N tile, after the tile holding
    // it; the stored rows' landings likewise for the groups stored directly. Each raises the
    // source's landing counter of (this GPU, its expert, its N tile).
    std::vector<int> sent(static_cast<std::size_t>(s.total_rows() * n_tiles), 0), landed(sent.size(), 0);
    EXPECT_EQ(s.landing.counters(), route.sources * route.experts * n_tiles);
    for (const bool stored : {false, true}) {
      int previous_flag = 0;
      for (const RowSend& send : stored ? s.stored : s.sends) {
        ASSERT_GT(send.rows, 0);
        EXPECT_GE(send.done_flag, previous_flag) << "sends out of the GEMM's order";
        previous_flag = send.done_flag;
        const GemmTile& unit = s.tiles[static_cast<std::size_t>(send.done_flag / cluster_m)];
        const CombineGroup& group = s.groups[unit.group];
        const std::int64_t tile_first = group.first_row + static_cast<std::int64_t>(unit.m + send.done_flag % cluster_m) * tile_m;
        EXPECT_EQ(unit.expert, send.expert);
        EXPECT_EQ(unit.n, send.n);
        EXPECT_EQ(send.landing, (route.local_source * route.experts + send.expert) * n_tiles + send.n);
        EXPECT_GE(send.row, tile_first) << "a send waits for a tile that does not hold its rows";
        EXPECT_LE(send.row + send.rows, std::min(tile_first + tile_m, group.first_row + group.rows));
        for (std::int64_t r = 0; r < send.rows; ++r) {
          ++(stored ? landed : sent)[static_cast<std::size_t>((send.row + r) * n_tiles + send.n)];
          EXPECT_EQ(origin[static_cast<std::size_t>(send.row + r)], std::make_pair(send.source, send.dest_row + r)) << "row " << send.row + r;
        }
      }
    }
    for (std::size_t i = 0; i < sent.size(); ++i) {
      const bool direct = s.groups[group_of_row[i / n_tiles]].direct_source >= 0;
      ASSERT_EQ(sent[i], direct ? 0 : 1) << "output row " << i / n_tiles << " N tile " << i % n_tiles << (direct ? " (stored directly)" : "");
      ASSERT_EQ(landed[i], direct ? 1 : 0) << "output row " << i / n_tiles << " N tile " << i % n_tiles << (direct ? " (stored directly)" : "");
    }
    if (::testing::Test::HasFailure()) return;
    reordered += order == CombineOrder::LOCAL_LAST && local_units > 0 && local_units < static_cast<int>(s.tiles.size());
  }
  EXPECT_GT(reordered, 50);
  EXPECT_GT(direct_rows[CombineStores::LOCAL_DIRECT], 0);
  EXPECT_GT(direct_rows[CombineStores::ALL_DIRECT], direct_rows[CombineStores::LOCAL_DIRECT]);
}

// With this GPU's own rows stored directly, an expert is two groups and its M tiles restart at the
// second: 3 own rows and 2 of another source, tiles of 2 rows.
TEST(FusedCombineSchedule, LocalDirectHandWorkedCase) {
  const DispatchRoute route{2, 1, 1, {2, 3}};  // expert 0: 2 rows from source 0, 3 from source 1 (local)
  const FusedCombineSchedule s = make_fused_combine_schedule(route, 2, 1, 1, 0, CombineOrder::LOCAL_LAST, CombineStores::LOCAL_DIRECT);
  ASSERT_EQ(s.groups.size(), 2u);
  EXPECT_EQ(std::tie(s.groups[0].first_row, s.groups[0].rows, s.groups[0].direct_source, s.groups[0].dest_row),
            std::make_tuple(std::int64_t{0}, std::int64_t{3}, 1, std::int64_t{0}));
  EXPECT_EQ(std::tie(s.groups[1].first_row, s.groups[1].rows, s.groups[1].direct_source),
            std::make_tuple(std::int64_t{3}, std::int64_t{2}, -1));
  // Group 1's one tile first (it holds source 0's rows), then group 0's two tiles (own rows only).
  ASSERT_EQ(s.tiles.size(), 3u);
  EXPECT_EQ(std::tie(s.tiles[0].group, s.tiles[0].m, s.tiles[1].group, s.tiles[1].m, s.tiles[2].group, s.tiles[2].m),
            std::make_tuple(1, 0, 0, 0, 0, 1));
  // One send: rows 3-4 to source 0's rows 0-1, after unit 0.
  ASSERT_EQ(s.sends.size(), 1u);
  EXPECT_EQ(std::tie(s.sends[0].done_flag, s.sends[0].source, s.sends[0].row, s.sends[0].dest_row, s.sends[0].rows),
            std::make_tuple(0, 0, std::int64_t{3}, std::int64_t{0}, std::int64_t{2}));
}

// The balanced band: what one wave of tiles reads per K step, b tile_m + (wave / b) tile_n, is
// fewest at b near sqrt(wave tile_n / tile_m); the band is that b in whole clusters, and no other
// whole-cluster band reads less.
TEST(FusedTileBands, BalancedBandReadsTheFewestBytesPerWave) {
  const auto bytes = [](int b, int wave, int tile_m, int tile_n) { return static_cast<double>(b) * tile_m + static_cast<double>(wave) / b * tile_n; };
  for (const auto& [wave, tile_m, tile_n, cluster_m] :
       {std::tuple{132, 128, 256, 2}, std::tuple{132, 128, 128, 1}, std::tuple{114, 128, 256, 2}, std::tuple{64, 64, 256, 1},
        std::tuple{8, 128, 256, 2}, std::tuple{1, 128, 256, 1}, std::tuple{1, 64, 256, 1}}) {  // the last: its best band exceeds the wave
    const int band = balanced_band_tiles(wave, tile_m, tile_n, cluster_m);
    SCOPED_TRACE(testing::Message() << "wave " << wave << ", tile " << tile_m << " x " << tile_n << ", cluster " << cluster_m);
    EXPECT_EQ(band % cluster_m, 0);
    EXPECT_GE(band, cluster_m);
    for (int b = cluster_m; b <= 4 * wave; b += cluster_m) {
      EXPECT_LE(bytes(band, wave, tile_m, tile_n), bytes(b, wave, tile_m, tile_n)) << "band " << b;
    }
    if (wave >= 4 * cluster_m) {
      EXPECT_LE(std::abs(band - std::sqrt(static_cast<double>(wave) * tile_n / tile_m)), cluster_m);
    }
  }
  // The kernels' default: their 128 x 256 tiles in clusters of 2 on 132 SMs.
  EXPECT_EQ(FUSED_BAND_TILES, balanced_band_tiles(132, 128, 256, 2));
  EXPECT_EQ(FUSED_BAND_TILES, 16);
}

TEST(FusedDispatchSchedule, RejectsRoutesThatCannotBe) {
  EXPECT_THROW(make_fused_dispatch_schedule({2, 1, 2, {1, 1}}, 128, 1), std::invalid_argument);   // local source out of range
  EXPECT_THROW(make_fused_dispatch_schedule({2, 1, 0, {1}}, 128, 1), std::invalid_argument);      // rows not experts x sources
  EXPECT_THROW(make_fused_dispatch_schedule({1, 1, 0, {-1}}, 128, 1), std::invalid_argument);     // negative rows
  EXPECT_THROW(make_fused_dispatch_schedule({1, 1, 0, {1}}, 0, 1), std::invalid_argument);        // no tile rows
  EXPECT_THROW(make_fused_dispatch_schedule({0, 0, 0, {}}, 128, 1), std::invalid_argument);       // no source
  EXPECT_THROW(make_fused_dispatch_schedule({1, 1, 0, {1}}, 128, 1, 0), std::invalid_argument);   // no cluster
  EXPECT_THROW(make_fused_combine_schedule({1, 1, 0, {1}}, 128, 1, 1, -1), std::invalid_argument);  // negative band
}

}  // namespace
}  // namespace comet::kernels
