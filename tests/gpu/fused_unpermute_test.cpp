// GPU tests (ctest label "gpu") of the fused combine's destination side: landing counters and the
// unpermute blocks that reduce this GPU's tokens as their rows land (kernels/fused_combine_gemm.hpp,
// kernels/fused_unpermute_schedule.hpp). On one GPU this GPU is one sender among several: its own
// rows come back through its launch's sends (or its epilogue's stores) while it unpermutes, and the
// other senders' rows are already there, their landing counters full (as if their launches had
// ended). The unpermute must equal combine_rows over the finished combine buffer (this GPU's rows
// first poisoned with NaN: a row read before it landed fails), every other destination's counters
// must count exactly the rows sent there, and counters are cleared between runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "fused_fixtures.hpp"
#include "fused_unpermute_schedule.hpp"
#include "permute.hpp"

namespace comet {
namespace {

using namespace comet::testing;
using namespace comet::fused_testing;

// This GPU's tokens as a destination: its combine buffer (senders back to back, sender `local`'s
// rows the fixture's own destination), each token's top-2 copies over every (sender, expert) slot,
// and its landing counters.
struct Destination {
  kernels::CombineReturn back;
  std::vector<std::int32_t> positions;
  std::int64_t rows = 0, tokens = 0;
  int top_k = 2;
  bf16* received = nullptr;  // [rows, n]
  std::vector<bf16> others;  // the other senders' rows, already landed
  std::int32_t* positions_device = nullptr;
  float* weights = nullptr;
  unsigned* landing = nullptr;
  std::vector<unsigned> landed_before;  // the other senders' counters full, this GPU's 0

  Destination(const kernels::DispatchRoute& route, std::int64_t n, std::mt19937_64& rng) {
    const int local = route.local_source;
    back = {route.sources, route.experts, {}, {}};
    for (int s = 0; s < route.sources; ++s)
      for (int e = 0; e < route.experts; ++e)
        back.sent.push_back(s == local ? route.rows_of(e, local) : std::uniform_int_distribution<std::int64_t>(0, 90)(rng));
    // Every copy slot (its row), shuffled, two to a token; some tokens get one copy or none.
    std::vector<std::int32_t> slots(static_cast<std::size_t>(std::accumulate(back.sent.begin(), back.sent.end(), std::int64_t{0})));
    std::iota(slots.begin(), slots.end(), 0);
    rows = static_cast<std::int64_t>(slots.size());
    std::shuffle(slots.begin(), slots.end(), rng);
    for (std::size_t i = 0; i < slots.size();) {
      const int copies = std::uniform_int_distribution<int>(0, 9)(rng) == 0 ? std::uniform_int_distribution<int>(0, 1)(rng) : 2;
      for (int j = 0; j < top_k; ++j) positions.push_back(j < copies && i < slots.size() ? slots[i++] : -1);
    }
    tokens = static_cast<std::int64_t>(positions.size()) / top_k;
    received = to_device(std::vector<bf16>(static_cast<std::size_t>(std::max<std::int64_t>(rows, 1) * n)));
    positions_device = to_device(positions);
    std::vector<float> w(positions.size());
    for (float& x : w) x = std::uniform_real_distribution<float>(0.0f, 1.0f)(rng);
    weights = to_device(w);
    const kernels::LandingLayout layout{route.sources, route.experts, static_cast<int>((n + kernels::FusedCombineGemm::TILE_N - 1) /
                                                                                      kernels::FusedCombineGemm::TILE_N)};
    landed_before.assign(static_cast<std::size_t>(layout.counters()), 0);
    for (int s = 0; s < route.sources; ++s)
      for (int e = 0; e < route.experts; ++e)
        for (int j = 0; j < layout.n_tiles && s != local; ++j)
          landed_before[static_cast<std::size_t>(layout.counter(s, e, j))] = static_cast<unsigned>(back.sent_to(s, e));
    landing = to_device(landed_before);
    others = random_bf16(static_cast<std::size_t>(rows * n), rng);
  }
  ~Destination() {
    cudaFree(received), cudaFree(positions_device), cudaFree(weights), cudaFree(landing);
  }
  // Where sender s's rows start (senders back to back).
  std::int64_t first_row(int sender) const {
    std::int64_t row = 0;
    for (int s = 0; s < sender; ++s)
      for (int e = 0; e < back.experts; ++e) row += back.sent_to(s, e);
    return row;
  }
  // The other senders' rows landed and counted, this GPU's own rows (at `own`) left as they are.
  void land_others(std::int64_t n, std::int64_t own_first, std::int64_t own_rows) {
    std::vector<bf16> host = to_host(received, static_cast<std::size_t>(rows * n));
    for (std::int64_t i = 0; i < rows * n; ++i)
      if (i < own_first * n || i >= (own_first + own_rows) * n) host[static_cast<std::size_t>(i)] = others[static_cast<std::size_t>(i)];
    ASSERT_EQ(cudaMemcpy(received, host.data(), host.size() * sizeof(bf16), cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(landing, landed_before.data(), landed_before.size() * sizeof(unsigned), cudaMemcpyHostToDevice), cudaSuccess);
  }
};

struct UnpermuteCase {
  int local;
  kernels::CombineStores stores;
  kernels::CombineOrder order;
  int tokens_per_unit;  // 5: a warp's last group of tokens partial
};

TEST(FusedUnpermute, ReducesEveryTokenAsItsRowsLandAndCountsEveryRowSent) {
  COMET_REQUIRE_FUSED_COMBINE();
  const auto seed = std::random_device{}();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  cublasHandle_t handle = nullptr;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  using Stores = kernels::CombineStores;
  using Order = kernels::CombineOrder;
  using SendTasks = kernels::FusedCombineGemm::SendTasks;
  constexpr int UNIT = kernels::FusedCombineGemm::UNPERMUTE_TOKENS;
  for (const UnpermuteCase& c : {UnpermuteCase{1, Stores::SEND, Order::EXPERT, UNIT}, UnpermuteCase{3, Stores::LOCAL_DIRECT, Order::LOCAL_LAST, 5},
                                 UnpermuteCase{0, Stores::ALL_DIRECT, Order::EXPERT, UNIT}}) {
    SCOPED_TRACE(::testing::Message() << "local source " << c.local << ", stores " << static_cast<int>(c.stores) << ", " << c.tokens_per_unit
                                      << " tokens per unit");
    CombineFixture f(ragged_route(rng, c.local), 264, 520, 0, c.order, c.stores);
    Destination d(f.route, f.n, rng);
    // This GPU's own rows come back into its combine buffer at its sender's place.
    const std::int64_t own_first = d.first_row(c.local);
    f.buffers.destinations[static_cast<std::size_t>(c.local)] = d.received + own_first * f.n;
    // Every destination's landing counters: this GPU's own, the others' in device memory here.
    std::vector<unsigned*> others_landing;
    for (int s = 0; s < f.route.sources; ++s) {
      if (s == c.local) {
        f.buffers.landing.push_back(d.landing);
      } else {
        others_landing.push_back(to_device(std::vector<unsigned>(static_cast<std::size_t>(f.schedule.landing.counters()), 0)));
        f.buffers.landing.push_back(others_landing.back());
      }
    }
    const kernels::UnpermuteSchedule schedule =
        kernels::make_unpermute_schedule(d.back, d.positions, d.top_k, f.schedule.n_tiles, c.tokens_per_unit);
    ASSERT_EQ(schedule.landing.counters(), f.schedule.landing.counters());
    float* out = nullptr;
    float* reference = nullptr;
    const std::vector<float> residual = [&] {
      std::vector<float> r(static_cast<std::size_t>(d.tokens * f.n));
      for (float& x : r) x = std::uniform_real_distribution<float>(-1.0f, 1.0f)(rng);
      return r;
    }();
    out = to_device(residual);
    reference = to_device(residual);
    kernels::FusedCombineGemm fused;
    ASSERT_EQ(fused.prepare(f.schedule, f.k, f.n, f.buffers), cudaSuccess);
    ASSERT_EQ(fused.prepare_unpermute(schedule, f.n, {d.received, d.positions_device, d.weights, out, d.landing}), cudaSuccess);
    int unpermuted_tokens = 0;
    for (SendTasks tasks : {SendTasks::PER_BLOCK, SendTasks::PER_WARP}) {
      fused.set_send_tasks(tasks);
      for (const auto& [send_blocks, unpermute_blocks] : {std::pair{2, 2}, std::pair{4, 8}}) {  // back to back
        const std::string what = std::to_string(send_blocks) + " send blocks, " + std::to_string(unpermute_blocks) + " unpermute blocks" +
                                 (tasks == SendTasks::PER_WARP ? ", sends per warp" : "");
        f.refill(rng, handle);  // this GPU's own rows poisoned (NaN), the references from cuBLAS
        d.land_others(f.n, own_first, f.source_rows[static_cast<std::size_t>(c.local)]);
        for (unsigned* counters : others_landing)
          ASSERT_EQ(cudaMemset(counters, 0, sizeof(unsigned) * f.schedule.landing.counters()), cudaSuccess);
        ASSERT_EQ(cudaMemcpy(out, residual.data(), residual.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
        ASSERT_EQ(fused.run(send_blocks, nullptr, 0, unpermute_blocks), cudaSuccess);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        ASSERT_EQ(fused.watchdog(), -1) << what << ": " << fused.watchdog_report();
        f.expect_destinations_match(what);
        EXPECT_TRUE(fused.unpermute_span().ran()) << what;
        // The reference: combine_rows over the finished buffer, after the launch.
        ASSERT_EQ(cudaMemcpy(reference, residual.data(), residual.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
        ASSERT_EQ(kernels::combine_rows(d.received, d.positions_device, d.weights, d.tokens, d.top_k, static_cast<int>(f.n), reference, nullptr),
                  cudaSuccess);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        const std::vector<float> got = to_host(out, residual.size()), want = to_host(reference, residual.size());
        std::int64_t differing = 0;
        for (std::size_t i = 0; i < got.size(); ++i) differing += !(std::fabs(got[i] - want[i]) <= 1e-5f * std::max(1.0f, std::fabs(want[i])));
        EXPECT_EQ(differing, 0) << what << ": values of the fused unpermute unlike combine_rows'";
        // Every other destination counts exactly the rows this GPU sent there, per expert and N tile.
        for (int s = 0, o = 0; s < f.route.sources; ++s) {
          if (s == c.local) continue;
          const std::vector<unsigned> counted = to_host(others_landing[static_cast<std::size_t>(o++)], static_cast<std::size_t>(f.schedule.landing.counters()));
          for (int i = 0; i < f.schedule.landing.counters(); ++i) {
            const int n_tile = i % f.schedule.n_tiles, expert = i / f.schedule.n_tiles % f.route.experts, sender = i / f.schedule.n_tiles / f.route.experts;
            const std::int64_t want_rows = sender == c.local ? f.route.rows_of(expert, s) : 0;
            ASSERT_EQ(counted[static_cast<std::size_t>(i)], want_rows) << what << ": destination " << s << ", sender " << sender << ", expert "
                                                                      << expert << ", N tile " << n_tile;
          }
        }
        unpermuted_tokens += static_cast<int>(schedule.tokens.size());
      }
    }
    EXPECT_GT(unpermuted_tokens, 0);
    // clear_landing zeroes this GPU's counters.
    ASSERT_EQ(fused.clear_landing(nullptr), cudaSuccess);
    const std::vector<unsigned> cleared = to_host(d.landing, static_cast<std::size_t>(schedule.landing.counters()));
    EXPECT_TRUE(std::all_of(cleared.begin(), cleared.end(), [](unsigned v) { return v == 0; }));
    EXPECT_EQ(fused.run(2, nullptr, 0, 1), cudaErrorInvalidValue);  // unpermute blocks not whole clusters
    EXPECT_EQ(fused.run(0, nullptr, 0, 2), cudaErrorInvalidValue);  // no send block: its own rows would never land
    for (unsigned* p : others_landing) cudaFree(p);
    cudaFree(out), cudaFree(reference);
  }
  cublasDestroy(handle);
}

// An unpermute waiting for rows that never land (a sender whose launch never runs) is ended by the
// watchdog, which names the sender, expert and N tile.
TEST(FusedUnpermute, WatchdogNamesALandingThatNeverComes) {
  COMET_REQUIRE_FUSED_COMBINE();
  std::mt19937_64 rng(7);
  CombineFixture f(ragged_route(rng, 1), 264, 520);
  Destination d(f.route, f.n, rng);
  f.buffers.destinations[1] = d.received + d.first_row(1) * f.n;
  // This GPU's sends count into its own counters; the other destinations' into a scratch array.
  unsigned* scratch = to_device(std::vector<unsigned>(static_cast<std::size_t>(f.schedule.landing.counters()), 0));
  for (int s = 0; s < f.route.sources; ++s) f.buffers.landing.push_back(s == 1 ? d.landing : scratch);
  // One other sender with rows never lands.
  int silent = -1;
  for (int s = 0; s < f.route.sources && silent < 0; ++s)
    for (int e = 0; e < f.route.experts && silent < 0; ++e)
      if (s != 1 && d.back.sent_to(s, e) > 0) silent = s;
  ASSERT_GE(silent, 0);
  for (int e = 0; e < f.route.experts; ++e)
    for (int j = 0; j < f.schedule.n_tiles; ++j) d.landed_before[static_cast<std::size_t>(f.schedule.landing.counter(silent, e, j))] = 0;
  d.land_others(f.n, d.first_row(1), f.source_rows[1]);
  const kernels::UnpermuteSchedule schedule = kernels::make_unpermute_schedule(d.back, d.positions, d.top_k, f.schedule.n_tiles, 16);
  float* out = to_device(std::vector<float>(static_cast<std::size_t>(d.tokens * f.n), 0.0f));
  kernels::FusedCombineGemm fused;
  ASSERT_EQ(fused.prepare(f.schedule, f.k, f.n, f.buffers), cudaSuccess);
  ASSERT_EQ(fused.prepare_unpermute(schedule, f.n, {d.received, d.positions_device, d.weights, out, d.landing}), cudaSuccess);
  fused.set_timeout(0.2);
  ASSERT_EQ(fused.run(2, nullptr, 0, 2), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_GE(fused.watchdog(), f.schedule.done_flags());
  const std::string report = fused.watchdog_report();
  EXPECT_NE(report.find("sender " + std::to_string(silent)), std::string::npos) << report;
  cudaFree(out), cudaFree(scratch);
}

}  // namespace
}  // namespace comet
