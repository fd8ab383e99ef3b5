// GPU tests (ctest label "gpu") of COMET's fused kernels on one GPU: the dispatch + expert GEMM
// (kernels/fused_dispatch_gemm.hpp) and the expert GEMM + combine (kernels/fused_combine_gemm.hpp).
// The other GPUs' buffers are host-mapped pinned memory (a real transport: the transfer blocks read
// or write them over PCIe), this GPU's own in device memory. Every output row is checked against
// cuBLAS's GEMM of the same rows and expert weights, placed where the documented layouts say (an
// expert's rows: own rows first, then sources in ring order; each source's rows expert by expert),
// on ragged routes with zero-row experts and silent sources, fresh random data each run (the seed
// is printed), poisoned outputs, several transfer-block counts, and runs back to back (the flags
// must be reset between them). Skipped without a GPU or without the kernels.
#include <cublas_v2.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "expert_ffn.hpp"
#include "fused_combine_gemm.hpp"
#include "fused_dispatch_gemm.hpp"
#include "global_timer.hpp"
#include "random_fill.hpp"
#include "fused_fixtures.hpp"
#include "gpu_test_support.hpp"

namespace comet {
namespace {

using namespace comet::testing;
using namespace comet::fused_testing;

// Runs `launch` (one fused run on the null stream) between two %globaltimer stamps and checks
// that the kernel's transfer_span() (what comet validate times comet:B's all-to-alls by) lies
// between them and is not empty.
template <class Kernel, class Launch>
void run_checking_transfer_span(Kernel& kernel, Launch&& launch, const std::string& what) {
  unsigned long long* stamps = nullptr;
  ASSERT_EQ(cudaMalloc(&stamps, 2 * sizeof(unsigned long long)), cudaSuccess);
  ASSERT_EQ(kernels::stamp_global_timer(stamps, nullptr), cudaSuccess);
  ASSERT_EQ(launch(), cudaSuccess);
  ASSERT_EQ(kernels::stamp_global_timer(stamps + 1, nullptr), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  unsigned long long host[2] = {0, 0};
  ASSERT_EQ(cudaMemcpy(host, stamps, sizeof host, cudaMemcpyDeviceToHost), cudaSuccess);
  cudaFree(stamps);
  const kernels::TransferSpan span = kernel.transfer_span();
  EXPECT_TRUE(span.ran()) << what;
  EXPECT_LE(host[0], span.start_ns) << what;
  EXPECT_LE(span.end_ns, host[1]) << what;
}

#define COMET_REQUIRE_FUSED_DISPATCH()                       \
  do {                                                       \
    COMET_REQUIRE_GPUS(1);                                   \
    std::string why;                                         \
    if (!kernels::FusedDispatchGemm::available(&why)) {      \
      GTEST_SKIP() << "SKIPPED: " << why;                    \
    }                                                        \
  } while (false)

// One route with its data: sources (source `local` on the device, the others host-mapped), weights,
// and the buffers the kernel writes.
struct Fixture {
  kernels::DispatchRoute route;
  std::int64_t k = 0, n = 0;
  std::vector<std::int64_t> source_rows;  // total rows each source sends
  std::vector<std::unique_ptr<HostMapped>> host_sources;
  bf16* local_source = nullptr;
  bf16 *weights = nullptr, *received = nullptr, *out = nullptr, *reference = nullptr;
  kernels::FusedDispatchSchedule schedule;
  kernels::FusedDispatchBuffers buffers;
  bool transposed = false;  // weights stored W_e^T, [n, k]

  Fixture(kernels::DispatchRoute r, std::int64_t k_, std::int64_t n_, int band_tiles = 0) : route(std::move(r)), k(k_), n(n_) {
    schedule = kernels::FusedDispatchGemm::schedule_for(route, n, band_tiles);
    source_rows.assign(route.sources, 0);
    for (int e = 0; e < route.experts; ++e)
      for (int s = 0; s < route.sources; ++s) source_rows[s] += route.rows_of(e, s);
    for (int s = 0; s < route.sources; ++s) {
      if (s == route.local_source) {
        local_source = to_device(std::vector<bf16>(std::max<std::int64_t>(source_rows[s], 1) * k));
        buffers.sources.push_back(local_source);
        host_sources.emplace_back();
      } else {
        host_sources.push_back(std::make_unique<HostMapped>(source_rows[s] * k));
        buffers.sources.push_back(host_sources.back()->device());
      }
    }
    const std::int64_t rows = std::max<std::int64_t>(schedule.total_rows(), 1);
    weights = to_device(std::vector<bf16>(std::max(route.experts, 1) * k * n));
    received = to_device(std::vector<bf16>(rows * k));
    out = to_device(std::vector<bf16>(rows * n));
    reference = to_device(std::vector<bf16>(rows * n));
    buffers.received = received, buffers.weights = weights, buffers.out = out;
  }
  ~Fixture() {
    for (bf16* p : {local_source, weights, received, out, reference}) cudaFree(p);
  }

  // New random rows and weights; the output and receive buffers poisoned with NaN.
  void refill(std::mt19937_64& rng) {
    for (int s = 0; s < route.sources; ++s) {
      const std::vector<bf16> rows = random_bf16(source_rows[s] * k, rng);
      if (s == route.local_source) {
        if (!rows.empty()) {
          ASSERT_EQ(cudaMemcpy(local_source, rows.data(), rows.size() * sizeof(bf16), cudaMemcpyHostToDevice), cudaSuccess);
        }
      } else {
        host_sources[s]->fill(rows);
      }
    }
    const std::vector<bf16> w = random_bf16(route.experts * k * n, rng);
    ASSERT_EQ(cudaMemcpy(weights, w.data(), w.size() * sizeof(bf16), cudaMemcpyHostToDevice), cudaSuccess);
    const std::int64_t rows = std::max<std::int64_t>(schedule.total_rows(), 1);
    ASSERT_EQ(cudaMemset(out, 0xFF, rows * n * sizeof(bf16)), cudaSuccess);  // 0xFFFF: a bf16 NaN
    ASSERT_EQ(cudaMemset(received, 0xFF, rows * k * sizeof(bf16)), cudaSuccess);
  }

  // cuBLAS over each (expert, source) segment, written where the documented layout puts it.
  void compute_reference(cublasHandle_t handle) {
    for_each_segment(route, [&](int e, int s, std::int64_t dest, std::int64_t source_first, std::int64_t rows) {
      if (rows > 0) {
        ASSERT_EQ(kernels::gemm_bf16(handle, false, transposed, rows, n, k, buffers.sources[s] + source_first * k, weights + e * k * n,
                                     reference + dest * n, false),
                  CUBLAS_STATUS_SUCCESS);
      }
    });
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  }

  void expect_output_matches(const std::string& what) {
    const std::int64_t rows = schedule.total_rows();
    expect_rows_match(to_float(to_host(out, rows * n)), to_float(to_host(reference, rows * n)), n, what);
  }
};

TEST(FusedDispatch, MatchesCublasOnRaggedRoutesWithEveryCopySplit) {
  COMET_REQUIRE_FUSED_DISPATCH();
  const auto seed = std::random_device{}();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  cublasHandle_t handle = nullptr;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  struct Case {
    int local;
    bool transposed;
    int band_tiles;
  };
  for (const auto& [local, transposed, band_tiles] : {Case{0, false, 0}, Case{3, false, 3}, Case{3, true, 0}}) {
    SCOPED_TRACE(::testing::Message() << (transposed ? "weights stored transposed (backward)" : "weights stored [k, n]") << ", band "
                                      << band_tiles);
    Fixture f(ragged_route(rng, local), 264, 520, band_tiles);
    f.transposed = transposed;
    kernels::FusedDispatchGemm fused;
    ASSERT_EQ(fused.prepare(f.schedule, f.k, f.n, f.buffers, transposed), cudaSuccess);
    // Back to back: the flags and tile claims of the previous run must not count. Copy blocks that
    // join the GEMM after their copies (the default) and copy blocks that stop.
    for (const auto& [copy_blocks, join] : {std::pair{2, true}, std::pair{8, true}, std::pair{32, true}, std::pair{8, false}}) {
      fused.set_copy_blocks_join(join);
      f.refill(rng);
      f.compute_reference(handle);
      const std::string split = std::to_string(copy_blocks) + (join ? " copy blocks joining the GEMM" : " copy blocks");
      run_checking_transfer_span(fused, [&] { return fused.run(copy_blocks, nullptr); }, split);
      EXPECT_EQ(fused.watchdog(), -1);
      f.expect_output_matches("local source " + std::to_string(local) + ", " + split);
      // The GEMM alone on the rows now received: the same output.
      ASSERT_EQ(cudaMemset(f.out, 0xFF, f.schedule.total_rows() * f.n * sizeof(bf16)), cudaSuccess);
      ASSERT_EQ(fused.run(0, nullptr), cudaSuccess);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      f.expect_output_matches("GEMM alone after " + std::to_string(copy_blocks) + " copy blocks");
    }
  }
  cublasDestroy(handle);
}

// A source whose rows never come: the GEMM blocks give up after the timeout (the launch ends, no
// hang), the watchdog names a flag of that source's tiles, and the next full run is right again.
TEST(FusedDispatch, WatchdogCatchesASourceThatNeverArrives) {
  COMET_REQUIRE_FUSED_DISPATCH();
  std::mt19937_64 rng(7);
  cublasHandle_t handle = nullptr;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  Fixture f({3, 2, 0, {40, 200, 0, 0, 70, 10}}, 64, 256);
  kernels::FusedDispatchSchedule withheld = f.schedule;
  std::vector<int> withheld_flags;
  std::erase_if(withheld.copies, [&](const kernels::RowCopy& c) {
    if (c.source == 1) withheld_flags.push_back(c.flag);
    return c.source == 1;
  });
  ASSERT_FALSE(withheld_flags.empty());
  kernels::FusedDispatchGemm fused;
  fused.set_timeout(0.2);
  ASSERT_EQ(fused.prepare(withheld, f.k, f.n, f.buffers), cudaSuccess);
  f.refill(rng);
  ASSERT_EQ(fused.run(4, nullptr), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const int flag = fused.watchdog();
  EXPECT_NE(std::find(withheld_flags.begin(), withheld_flags.end(), flag), withheld_flags.end()) << "flag " << flag;
  // The report lists the short flags, the tripped one among them, and every block started.
  const std::string report = fused.watchdog_report(64);
  std::ostringstream tripped;  // (not " " + to_string + " at ": g++ 12 reads that chain as an overlapping memcpy, -Wrestrict)
  tripped << ' ' << flag << " at ";
  EXPECT_NE(report.find(tripped.str()), std::string::npos) << report;
  EXPECT_NE(report.find("transfer"), std::string::npos) << report;
  EXPECT_EQ(report.find("not started"), std::string::npos) << report;

  ASSERT_EQ(fused.prepare(f.schedule, f.k, f.n, f.buffers), cudaSuccess);
  f.refill(rng);
  f.compute_reference(handle);
  ASSERT_EQ(fused.run(4, nullptr), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(fused.watchdog(), -1);
  f.expect_output_matches("after the watchdog");
  cublasDestroy(handle);
}

TEST(FusedDispatch, RejectsWhatItCannotRun) {
  COMET_REQUIRE_FUSED_DISPATCH();
  Fixture f({1, 1, 0, {16}}, 64, 256);
  kernels::FusedDispatchGemm fused;
  EXPECT_EQ(fused.prepare(f.schedule, 60, f.n, f.buffers), cudaErrorInvalidValue);  // k not a multiple of 8
  EXPECT_EQ(fused.prepare(kernels::make_fused_dispatch_schedule(f.route, 64, 1, 2), f.k, f.n, f.buffers), cudaErrorInvalidValue);
  EXPECT_EQ(fused.prepare(kernels::make_fused_dispatch_schedule(f.route, 128, 1, 1), f.k, f.n, f.buffers), cudaErrorInvalidValue);
  kernels::FusedDispatchBuffers misaligned = f.buffers;
  misaligned.out = f.out + 1;
  EXPECT_EQ(fused.prepare(f.schedule, f.k, f.n, misaligned), cudaErrorInvalidValue);
  EXPECT_EQ(fused.run(2, nullptr), cudaErrorInvalidValue);  // nothing prepared
  ASSERT_EQ(fused.prepare(f.schedule, f.k, f.n, f.buffers), cudaSuccess);
  EXPECT_EQ(fused.run(kernels::FusedDispatchGemm::CLUSTER_M + 1, nullptr), cudaErrorInvalidValue);  // not whole clusters
  EXPECT_EQ(fused.run_copies(kernels::FusedDispatchGemm::CLUSTER_M + 1, nullptr), cudaErrorInvalidValue);
}

// One combine case on a ragged route: where this GPU sits among the sources, how the weights are
// stored, the band, the order of the units and which rows the epilogue stores directly.
struct CombineCase {
  int local;
  bool transposed;
  int band_tiles;
  kernels::CombineOrder order;
  kernels::CombineStores stores;
};

std::string describe(const CombineCase& c) {
  static const char* const stores[] = {"sent", "own rows stored directly", "every row stored directly"};
  std::ostringstream text;
  text << (c.transposed ? "weights stored transposed (backward)" : "weights stored [k, n]") << ", band " << c.band_tiles
       << (c.order == kernels::CombineOrder::LOCAL_LAST ? ", local last, " : ", ") << stores[static_cast<int>(c.stores)]
       << ", local source " << c.local;
  return text.str();
}

// The same case with tiles counted done a tile later (the default counts them at once), then with
// the copy engines instead of send blocks: two runs back to back (the second's reset of the done
// flags must wait for the first's copies), then the GEMM alone and the engine copies alone.
void expect_tile_later_and_engine_runs_match(kernels::FusedCombineGemm& fused, CombineFixture& f, std::mt19937_64& rng,
                                             cublasHandle_t handle) {
  using Count = kernels::FusedCombineGemm::DoneCount;
  fused.set_done_count(Count::ONE_TILE_LATER);
  fused.set_send_tasks(kernels::FusedCombineGemm::SendTasks::PER_WARP);
  fused.set_send_blocks_join(true);
  for (int send_blocks : {2, 8}) {
    f.refill(rng, handle);
    run_checking_transfer_span(fused, [&] { return fused.run(send_blocks, nullptr); }, "tiles counted a tile later");
    EXPECT_EQ(fused.watchdog(), -1);
    f.expect_destinations_match(std::to_string(send_blocks) + " send blocks per warp, tiles counted done a tile later");
  }
  fused.set_done_count(Count::AT_ONCE);
  cudaStream_t engine = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&engine, cudaStreamNonBlocking), cudaSuccess);
  f.refill(rng, handle);
  ASSERT_EQ(fused.run_engine(nullptr, engine), cudaSuccess);
  ASSERT_EQ(fused.run_engine(nullptr, engine), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  f.expect_destinations_match("copy engines (" + std::to_string(fused.engine_copy_count()) + " copies), two runs back to back");
  f.poison();
  ASSERT_EQ(fused.run(0, nullptr), cudaSuccess);
  ASSERT_EQ(fused.run_engine_sends(nullptr), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  f.expect_destinations_match("GEMM then the engine copies alone");
  EXPECT_EQ(fused.run_engine(engine, engine), cudaErrorInvalidValue);  // the copies must run beside the GEMM
  cudaStreamDestroy(engine);
}

// Every row of every case reaches its source equal to cuBLAS's, with each send mode and several
// send-block counts back to back, and with the GEMM alone then the sends alone.
void expect_combine_cases_match(const std::vector<CombineCase>& cases) {
  const auto seed = std::random_device{}();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  cublasHandle_t handle = nullptr;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  using SendTasks = kernels::FusedCombineGemm::SendTasks;
  for (const CombineCase& c : cases) {
    SCOPED_TRACE(describe(c));
    CombineFixture f(ragged_route(rng, c.local), 264, 520, c.band_tiles, c.order, c.stores);
    f.transposed = c.transposed;
    kernels::FusedCombineGemm fused;
    ASSERT_EQ(fused.prepare(f.schedule, f.k, f.n, f.buffers, c.transposed), cudaSuccess);
    // Send blocks that join the GEMM after their sends (the default), and per block ones that stop.
    for (const auto& [tasks, join] : {std::pair{SendTasks::PER_BLOCK, true}, std::pair{SendTasks::PER_WARP, true},
                                      std::pair{SendTasks::PER_BLOCK, false}}) {
      fused.set_send_tasks(tasks);
      fused.set_send_blocks_join(join);
      const std::string by =
          std::string(tasks == SendTasks::PER_WARP ? "sends per warp" : "sends per block") + (join ? ", joining the GEMM" : "");
      for (int send_blocks : {2, 8, 32}) {  // back to back: the done flags of the previous run must not count
        f.refill(rng, handle);
        run_checking_transfer_span(fused, [&] { return fused.run(send_blocks, nullptr); }, std::to_string(send_blocks) + " send blocks");
        EXPECT_EQ(fused.watchdog(), -1);
        f.expect_destinations_match(std::to_string(send_blocks) + " send blocks, " + by);
        // The GEMM alone, then the sends alone: the same rows arrive.
        f.poison();
        ASSERT_EQ(fused.run(0, nullptr), cudaSuccess);
        ASSERT_EQ(fused.run_sends(send_blocks, nullptr), cudaSuccess);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        f.expect_destinations_match("GEMM then sends, " + std::to_string(send_blocks) + " send blocks, " + by);
      }
    }
    expect_tile_later_and_engine_runs_match(fused, f, rng, handle);
    EXPECT_EQ(fused.run(kernels::FusedCombineGemm::CLUSTER_M + 1, nullptr), cudaErrorInvalidValue);  // not whole clusters
  }
  cublasDestroy(handle);
}

TEST(FusedCombine, EveryRowReachesItsSourceOnRaggedRoutesWithEverySendSplit) {
  COMET_REQUIRE_FUSED_COMBINE();
  using Order = kernels::CombineOrder;
  using Stores = kernels::CombineStores;
  expect_combine_cases_match({{0, false, 0, Order::EXPERT, Stores::SEND},
                              {3, false, 3, Order::EXPERT, Stores::SEND},
                              {3, true, 0, Order::EXPERT, Stores::SEND},
                              {2, false, 0, Order::LOCAL_LAST, Stores::SEND},
                              {1, true, 3, Order::LOCAL_LAST, Stores::SEND},
                              {0, false, 0, Order::LOCAL_LAST, Stores::LOCAL_DIRECT},
                              {3, true, 3, Order::EXPERT, Stores::LOCAL_DIRECT}});
}

// The epilogue's TMA stores straight into every source's buffer, host-mapped pinned memory
// included (the other sources here), with no send at all.
TEST(FusedCombine, EpilogueStoresEveryRowStraightIntoItsSource) {
  COMET_REQUIRE_FUSED_COMBINE();
  using Order = kernels::CombineOrder;
  using Stores = kernels::CombineStores;
  expect_combine_cases_match({{0, false, 0, Order::EXPERT, Stores::ALL_DIRECT}, {2, true, 3, Order::LOCAL_LAST, Stores::ALL_DIRECT}});
}

// Paced sends deliver the same rows and never finish before their rate allows: with R bytes/s over
// `blocks` send blocks, a block starts a send no sooner than its bytes so far x blocks / R after it
// began, so the sends' span is at least (all bytes - blocks x the largest send) / R. A lower bound
// (a slower GPU only lengthens the span). R is set from the random route so that the bound is 2 ms
// with the most send blocks tried, far above the unpaced span (a fixed 0.5 GB/s put the bound
// under 1 ms on some routes: stop 50).
TEST(FusedCombine, PacedSendsMatchAndTakeNoLessThanTheirRateAllows) {
  COMET_REQUIRE_FUSED_COMBINE();
  const auto seed = std::random_device{}();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  cublasHandle_t handle = nullptr;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  CombineFixture f(ragged_route(rng, 1), 264, 520);
  double bytes = 0, largest = 0;
  for (const kernels::RowSend& send : f.schedule.sends) {
    const double columns = std::min<std::int64_t>(kernels::FusedCombineGemm::TILE_N, f.n - std::int64_t{send.n} * kernels::FusedCombineGemm::TILE_N);
    bytes += static_cast<double>(send.rows) * columns * sizeof(bf16);
    largest = std::max(largest, static_cast<double>(send.rows) * columns * sizeof(bf16));
  }
  constexpr int MOST_BLOCKS = 4;
  const double paced_bytes = bytes - MOST_BLOCKS * largest;
  ASSERT_GT(paced_bytes, 0.0) << "the route's largest send is too large a share for the bound to mean anything";
  const double RATE = paced_bytes / 2e-3;
  kernels::FusedCombineGemm fused;
  ASSERT_EQ(fused.prepare(f.schedule, f.k, f.n, f.buffers), cudaSuccess);
  fused.set_send_rate(RATE);
  for (int send_blocks : {2, MOST_BLOCKS}) {
    f.refill(rng, handle);
    run_checking_transfer_span(fused, [&] { return fused.run(send_blocks, nullptr); }, std::to_string(send_blocks) + " paced send blocks");
    const kernels::TransferSpan span = fused.transfer_span();
    const double floor_s = (bytes - send_blocks * largest) / RATE;  // 2 ms and more
    EXPECT_GE(static_cast<double>(span.end_ns - span.start_ns) * 1e-9, floor_s) << send_blocks << " send blocks";
    EXPECT_EQ(fused.watchdog(), -1);
    f.expect_destinations_match(std::to_string(send_blocks) + " paced send blocks");
  }
  cublasDestroy(handle);
}

// Mixtral-8x7B's down projection at 16K tokens per GPU (8 local experts, 4096 rows each from 8
// sources, k 14336, n 4096) in bands of 8 M tiles with sends per warp: the shape whose combine gave
// up on a done flag in the bench (one H100, 2026-12-06, BENCHMARKS.md). Every row must arrive, the
// watchdog must stay quiet, and a trip says what was short and what was running.
TEST(FusedCombine, Mixtral16kBandsOfEightWithSendsPerWarpFinish) {
  COMET_REQUIRE_FUSED_COMBINE();
  const auto seed = std::random_device{}();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  cublasHandle_t handle = nullptr;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  constexpr int EXPERTS = 8, SOURCES = 8;
  kernels::DispatchRoute route{SOURCES, EXPERTS, 0, std::vector<std::int64_t>(EXPERTS * SOURCES, 4096 / SOURCES)};
  CombineFixture f(route, 14336, 4096, /*band_tiles=*/8);
  using SendTasks = kernels::FusedCombineGemm::SendTasks;
  for (SendTasks tasks : {SendTasks::PER_WARP, SendTasks::PER_BLOCK}) {
    kernels::FusedCombineGemm fused;
    ASSERT_EQ(fused.prepare(f.schedule, f.k, f.n, f.buffers), cudaSuccess);
    fused.set_timeout(5.0);
    fused.set_send_tasks(tasks);
    const std::string by = tasks == SendTasks::PER_WARP ? "sends per warp" : "sends per block";
    for (int send_blocks : {2, 4, 8}) {
      f.refill_on_device(seed + send_blocks, handle);
      ASSERT_EQ(fused.run(send_blocks, nullptr), cudaSuccess);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      EXPECT_EQ(fused.watchdog(), -1) << by << ", " << send_blocks << " send blocks: " << fused.watchdog_report();
      f.expect_destinations_match(by + ", " + std::to_string(send_blocks) + " send blocks");
    }
  }
  cublasDestroy(handle);
}

}  // namespace
}  // namespace comet
