// The fused combine's destination side (kernels/fused_unpermute_schedule.hpp) against the senders'
// side (kernels/fused_schedule.hpp) over random expert-parallel worlds: what every sender's combine
// schedule raises into a destination's landing counters is exactly what that destination waits
// for, every returned row lands once where the destination's unpermute reads it, and each piece of
// the unpermute waits for the counters of every row it reads.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <random>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "fused_schedule.hpp"
#include "fused_unpermute_schedule.hpp"

namespace comet::kernels {
namespace {

// A random world: gpus GPUs of `experts` local experts each; each GPU's tokens pick top_k distinct
// global experts (some copies dropped: position -1, as a capacity limit drops them).
struct World {
  int gpus = 0, experts = 0, top_k = 1;
  std::vector<std::vector<std::vector<int>>> choice;  // [gpu][token][j]: global expert, or -1

  static World random(std::mt19937_64& rng) {
    World w;
    w.gpus = std::uniform_int_distribution<int>(1, 5)(rng);
    w.experts = std::uniform_int_distribution<int>(1, 4)(rng);
    w.top_k = std::uniform_int_distribution<int>(1, std::min(3, w.gpus * w.experts))(rng);
    std::vector<int> all(static_cast<std::size_t>(w.gpus * w.experts));
    std::iota(all.begin(), all.end(), 0);
    w.choice.resize(static_cast<std::size_t>(w.gpus));
    for (auto& tokens : w.choice) {
      tokens.resize(std::uniform_int_distribution<std::size_t>(0, 40)(rng));
      for (auto& copies : tokens) {
        std::shuffle(all.begin(), all.end(), rng);
        copies.assign(all.begin(), all.begin() + w.top_k);
        for (int& c : copies)
          if (std::uniform_int_distribution<int>(0, 9)(rng) == 0) c = -1;
      }
    }
    return w;
  }
  // Copies GPU d sent to expert e of GPU s, in token order.
  std::int64_t sent(int d, int s, int e) const {
    std::int64_t n = 0;
    for (const auto& copies : choice[static_cast<std::size_t>(d)]) n += std::count(copies.begin(), copies.end(), s * experts + e);
    return n;
  }
  // GPU d's return route with its senders' rows placed in `sender_order`, and its positions.
  CombineReturn back(int d, const std::vector<int>& sender_order) const {
    CombineReturn r{gpus, experts, {}, std::vector<std::int64_t>(static_cast<std::size_t>(gpus))};
    for (int s = 0; s < gpus; ++s)
      for (int e = 0; e < experts; ++e) r.sent.push_back(sent(d, s, e));
    std::int64_t row = 0;
    for (int s : sender_order) {
      r.first_row[static_cast<std::size_t>(s)] = row;
      for (int e = 0; e < experts; ++e) row += r.sent_to(s, e);
    }
    return r;
  }
  std::vector<std::int32_t> positions(int d, const CombineReturn& r) const {
    std::vector<std::int64_t> next(static_cast<std::size_t>(gpus * experts));
    for (int s = 0; s < gpus; ++s) {
      std::int64_t row = r.first_row[static_cast<std::size_t>(s)];
      for (int e = 0; e < experts; ++e) next[static_cast<std::size_t>(s * experts + e)] = row, row += r.sent_to(s, e);
    }
    std::vector<std::int32_t> p;
    for (const auto& copies : choice[static_cast<std::size_t>(d)])
      for (int c : copies) p.push_back(c < 0 ? -1 : static_cast<std::int32_t>(next[static_cast<std::size_t>(c)]++));
    return p;
  }
  DispatchRoute route_of(int s) const {
    DispatchRoute route{gpus, experts, s, {}};
    for (int e = 0; e < experts; ++e)
      for (int src = 0; src < gpus; ++src) route.rows.push_back(sent(src, s, e));
    return route;
  }
};

TEST(FusedUnpermuteSchedule, EverySenderRaisesWhatItsDestinationsWaitFor) {
  std::mt19937_64 rng(4242);
  int waited = 0;  // waits checked: not vacuous
  for (int trial = 0; trial < 300; ++trial) {
    const World w = World::random(rng);
    const int tile_m = std::vector<int>{1, 4, 16}[trial % 3], n_tiles = 1 + trial % 3, cluster_m = 1 + trial % 2;
    const int band_tiles = trial % 4, tokens_per_unit = 1 + trial % 7;
    const CombineOrder order = (trial / 2) % 2 ? CombineOrder::LOCAL_LAST : CombineOrder::EXPERT;
    const CombineStores stores = std::vector<CombineStores>{CombineStores::SEND, CombineStores::LOCAL_DIRECT, CombineStores::ALL_DIRECT}[(trial / 4) % 3];
    SCOPED_TRACE(::testing::Message() << "trial " << trial << ": " << w.gpus << " GPUs x " << w.experts << " experts, top " << w.top_k
                                      << ", tile_m " << tile_m << ", N tiles " << n_tiles << ", stores " << static_cast<int>(stores));
    // Each destination's return layout (senders in a shuffled order) and unpermute.
    std::vector<CombineReturn> backs;
    std::vector<std::vector<std::int32_t>> positions;
    std::vector<UnpermuteSchedule> unpermutes;
    for (int d = 0; d < w.gpus; ++d) {
      std::vector<int> sender_order(static_cast<std::size_t>(w.gpus));
      std::iota(sender_order.begin(), sender_order.end(), 0);
      std::shuffle(sender_order.begin(), sender_order.end(), rng);
      backs.push_back(w.back(d, sender_order));
      positions.push_back(w.positions(d, backs.back()));
      unpermutes.push_back(make_unpermute_schedule(backs.back(), positions.back(), w.top_k, n_tiles, tokens_per_unit));
    }
    // What every sender's combine writes and raises at each destination.
    std::vector<std::vector<std::int64_t>> raised(static_cast<std::size_t>(w.gpus));
    std::map<std::tuple<int, std::int64_t, int>, std::pair<int, int>> landed;  // (d, row, n) -> (times, counter)
    for (int s = 0; s < w.gpus; ++s) {
      const FusedCombineSchedule c = make_fused_combine_schedule(w.route_of(s), tile_m, n_tiles, cluster_m, band_tiles, order, stores);
      for (const auto* runs : {&c.sends, &c.stored})
        for (const RowSend& send : *runs) {
          const CombineReturn& back = backs[static_cast<std::size_t>(send.source)];
          auto& counters = raised[static_cast<std::size_t>(send.source)];
          counters.resize(static_cast<std::size_t>(unpermutes[static_cast<std::size_t>(send.source)].landing.counters()), 0);
          counters[static_cast<std::size_t>(send.landing)] += send.rows;
          for (std::int64_t r = 0; r < send.rows; ++r) {
            auto& at = landed[{send.source, back.first_row[static_cast<std::size_t>(s)] + send.dest_row + r, send.n}];
            ++at.first;
            at.second = send.landing;
          }
        }
    }
    for (int d = 0; d < w.gpus; ++d) {
      const UnpermuteSchedule& u = unpermutes[static_cast<std::size_t>(d)];
      auto& counters = raised[static_cast<std::size_t>(d)];
      counters.resize(static_cast<std::size_t>(u.landing.counters()), 0);
      EXPECT_EQ(counters, u.expected) << "destination " << d << ": raised against expected, per landing counter";
      // Every (token with a copy, N tile) in exactly one unit, which waits for what delivers its rows.
      std::map<std::pair<int, int>, int> covered;
      int previous_key = -1;
      for (const UnpermuteUnit& unit : u.units) {
        ASSERT_GT(unit.tokens, 0);
        ASSERT_LE(unit.tokens, tokens_per_unit);
        int key = -1;
        for (int i = unit.first_token; i < unit.first_token + unit.tokens; ++i) {
          const int t = u.tokens[static_cast<std::size_t>(i)];
          ++covered[{t, unit.n}];
          for (int j = 0; j < w.top_k; ++j) {
            const std::int32_t p = positions[static_cast<std::size_t>(d)][static_cast<std::size_t>(t * w.top_k + j)];
            if (p < 0) continue;
            key = std::max(key, w.choice[static_cast<std::size_t>(d)][static_cast<std::size_t>(t)][static_cast<std::size_t>(j)] % w.experts);
            const auto at = landed.find({d, p, unit.n});
            ASSERT_NE(at, landed.end()) << "destination " << d << ": row " << p << " N tile " << unit.n << " never lands";
            ASSERT_EQ(at->second.first, 1) << "destination " << d << ": row " << p << " lands more than once";
            const auto first = u.waits.begin() + unit.first_wait, end = first + unit.waits;
            const auto wait = std::find_if(first, end, [&](const LandingWait& x) { return x.counter == at->second.second; });
            ASSERT_NE(wait, end) << "destination " << d << ": token " << t << " reads row " << p << " without waiting for its landing";
            EXPECT_EQ(wait->rows, u.expected[static_cast<std::size_t>(wait->counter)]);
            ++waited;
          }
        }
        EXPECT_LE(previous_key, key * n_tiles + unit.n) << "units out of the senders' order";
        previous_key = key * n_tiles + unit.n;
      }
      for (std::size_t t = 0; t < w.choice[static_cast<std::size_t>(d)].size(); ++t) {
        const auto& copies = w.choice[static_cast<std::size_t>(d)][t];
        const bool any = std::any_of(copies.begin(), copies.end(), [](int c) { return c >= 0; });
        for (int n = 0; n < n_tiles; ++n) {
          EXPECT_EQ(covered[std::make_pair(static_cast<int>(t), n)], any ? 1 : 0) << "token " << t << " N tile " << n;
        }
      }
    }
    if (::testing::Test::HasFailure()) return;
  }
  EXPECT_GT(waited, 10000);
}

// 2 senders x 2 experts; tokens: t0 -> rows 0 (s0 e0) and 1 (s1 e0), t1 -> rows 2 (s1 e0) and 3
// (s1 e1), t2 -> no copy. t0 is ready once expert 0 of both senders lands, t1 needs expert 1.
TEST(FusedUnpermuteSchedule, HandWorkedCase) {
  const CombineReturn back{2, 2, {1, 0, 2, 1}, {}};
  const UnpermuteSchedule u = make_unpermute_schedule(back, {0, 1, 2, 3, -1, -1}, 2, 1, 4);
  EXPECT_EQ(u.expected, (std::vector<std::int64_t>{1, 0, 2, 1}));
  EXPECT_EQ(u.tokens, (std::vector<std::int32_t>{0, 1}));
  ASSERT_EQ(u.units.size(), 2u);
  EXPECT_EQ(std::tie(u.units[0].first_token, u.units[0].tokens, u.units[0].waits), std::make_tuple(0, 1, 2));
  EXPECT_EQ(std::tie(u.units[1].first_token, u.units[1].tokens, u.units[1].waits), std::make_tuple(1, 1, 2));
  std::vector<std::pair<int, std::int64_t>> waits;
  for (const LandingWait& x : u.waits) waits.emplace_back(x.counter, x.rows);
  EXPECT_EQ(waits, (std::vector<std::pair<int, std::int64_t>>{{0, 1}, {2, 2}, {2, 2}, {3, 1}}));
}

TEST(FusedUnpermuteSchedule, RejectsInputsThatCannotBe) {
  const CombineReturn back{2, 2, {1, 0, 2, 1}, {}};
  const std::vector<std::int32_t> positions{0, 1, 2, 3};
  EXPECT_THROW(make_unpermute_schedule(back, {0, 4}, 2, 1, 4), std::invalid_argument);        // row 4: no sender's
  EXPECT_THROW(make_unpermute_schedule(back, {0, 1, 2}, 2, 1, 4), std::invalid_argument);     // not whole tokens
  EXPECT_THROW(make_unpermute_schedule(back, positions, 0, 1, 4), std::invalid_argument);     // top_k 0
  EXPECT_THROW(make_unpermute_schedule(back, positions, 2, 0, 4), std::invalid_argument);     // no N tile
  EXPECT_THROW(make_unpermute_schedule(back, positions, 2, 1, 0), std::invalid_argument);     // empty units
  EXPECT_THROW(make_unpermute_schedule({2, 2, {1, 0, 2}, {}}, positions, 2, 1, 4), std::invalid_argument);      // sent size
  EXPECT_THROW(make_unpermute_schedule({2, 2, {1, 0, -2, 1}, {}}, positions, 2, 1, 4), std::invalid_argument);  // negative
  EXPECT_THROW(make_unpermute_schedule({2, 2, {1, 0, 2, 1}, {0, 0}}, positions, 2, 1, 4), std::invalid_argument);  // overlap
  EXPECT_THROW(make_unpermute_schedule({2, 2, {1, 0, 2, 1}, {0}}, positions, 2, 1, 4), std::invalid_argument);     // first_row size
  EXPECT_NO_THROW(make_unpermute_schedule({2, 2, {1, 0, 2, 1}, {3, 0}}, {3, 0, 1, 2}, 2, 1, 4));  // sender 1 first
}

}  // namespace
}  // namespace comet::kernels
