// GPU tests (ctest label "gpu") of the fused dispatch + expert GEMM (kernels/fused_dispatch_gemm.hpp)
// on one GPU: the remote sources live in host-mapped pinned memory (a real transport: the copy
// blocks read them over PCIe), the destination's own rows in device memory. Every output row is
// checked against cuBLAS's GEMM of the same source rows and expert weights, placed where the
// documented receive layout says (an expert's rows: own rows first, then sources in ring order),
// on ragged routes with zero-row experts and silent sources, fresh random data each run (the seed
// is printed), poisoned outputs, several copy-block counts, and runs back to back (the flags must
// be reset between them). Skipped without a GPU or without the kernel.
#include <cublas_v2.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "expert_ffn.hpp"
#include "fused_dispatch_gemm.hpp"
#include "gpu_test_support.hpp"

namespace comet {
namespace {

using namespace comet::testing;
using bf16 = __nv_bfloat16;

#define COMET_REQUIRE_FUSED_DISPATCH()                       \
  do {                                                       \
    COMET_REQUIRE_GPUS(1);                                   \
    std::string why;                                         \
    if (!kernels::FusedDispatchGemm::available(&why)) {      \
      GTEST_SKIP() << "SKIPPED: " << why;                    \
    }                                                        \
  } while (false)

// Pinned host memory the GPU reads through its mapped address.
class HostMapped {
 public:
  explicit HostMapped(std::size_t count) : count_(count) {
    EXPECT_EQ(cudaHostAlloc(&host_, std::max<std::size_t>(count, 1) * sizeof(bf16), cudaHostAllocMapped), cudaSuccess);
    EXPECT_EQ(cudaHostGetDevicePointer(reinterpret_cast<void**>(&device_), host_, 0), cudaSuccess);
  }
  ~HostMapped() { cudaFreeHost(host_); }
  HostMapped(const HostMapped&) = delete;
  HostMapped& operator=(const HostMapped&) = delete;
  void fill(const std::vector<bf16>& values) { std::memcpy(host_, values.data(), values.size() * sizeof(bf16)); }
  const bf16* device() const { return device_; }

 private:
  std::size_t count_;
  bf16* host_ = nullptr;
  bf16* device_ = nullptr;
};

std::vector<bf16> random_bf16(std::size_t count, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::vector<bf16> out(count);
  for (auto& v : out) v = __float2bfloat16(value(rng));
  return out;
}

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

  Fixture(kernels::DispatchRoute r, std::int64_t k_, std::int64_t n_) : route(std::move(r)), k(k_), n(n_) {
    schedule = kernels::FusedDispatchGemm::schedule_for(route, n);
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

  // cuBLAS over each (expert, source) segment, written where the documented layout puts it: an
  // expert's rows in wave order (the destination's own first, then local + 1, local + 2, ...),
  // each source's rows for this destination expert by expert. Independent of the schedule.
  void compute_reference(cublasHandle_t handle) {
    std::int64_t expert_first = 0;
    for (int e = 0; e < route.experts; ++e) {
      std::int64_t dest = expert_first;
      for (int w = 0; w < route.sources; ++w) {
        const int s = (route.local_source + w) % route.sources;
        std::int64_t source_first = 0;
        for (int e2 = 0; e2 < e; ++e2) source_first += route.rows_of(e2, s);
        const std::int64_t rows = route.rows_of(e, s);
        if (rows > 0) {
          ASSERT_EQ(kernels::gemm_bf16(handle, false, false, rows, n, k, buffers.sources[s] + source_first * k, weights + e * k * n,
                                       reference + dest * n, false),
                    CUBLAS_STATUS_SUCCESS);
        }
        dest += rows;
      }
      expert_first = dest;
    }
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  }

  // Relative L2 over the whole output and, per row, the largest difference against the row's
  // largest reference value; NaN anywhere (a row never written) fails.
  void expect_output_matches(const std::string& what) {
    const std::int64_t rows = schedule.total_rows();
    const std::vector<float> got = to_float(to_host(out, rows * n)), want = to_float(to_host(reference, rows * n));
    double diff = 0, norm = 0;
    for (std::int64_t r = 0; r < rows; ++r) {
      double row_diff = 0, row_scale = 0;
      for (std::int64_t c = 0; c < n; ++c) {
        const float g = got[r * n + c], w = want[r * n + c];
        ASSERT_FALSE(std::isnan(g)) << what << ": row " << r << " column " << c << " never written";
        diff += (g - w) * (g - w), norm += w * w;
        row_diff = std::max(row_diff, static_cast<double>(std::fabs(g - w)));
        row_scale = std::max(row_scale, static_cast<double>(std::fabs(w)));
      }
      ASSERT_LE(row_diff, 2e-2 * std::max(row_scale, 1.0)) << what << ": row " << r;
    }
    EXPECT_LT(std::sqrt(diff / std::max(norm, 1e-30)), 1e-2) << what;
  }
};

// Ragged: expert 1 gets no rows, source 2 sends nothing, segments of 0-300 rows; k and n not
// multiples of the tile (K and N residues).
kernels::DispatchRoute ragged_route(std::mt19937_64& rng, int local_source) {
  kernels::DispatchRoute route{4, 5, local_source, {}};
  std::uniform_int_distribution<std::int64_t> rows(0, 300);
  for (int e = 0; e < route.experts; ++e)
    for (int s = 0; s < route.sources; ++s) route.rows.push_back(e == 1 || s == 2 ? 0 : rows(rng));
  return route;
}

TEST(FusedDispatch, MatchesCublasOnRaggedRoutesWithEveryCopySplit) {
  COMET_REQUIRE_FUSED_DISPATCH();
  const auto seed = std::random_device{}();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  cublasHandle_t handle = nullptr;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  for (int local : {0, 3}) {
    Fixture f(ragged_route(rng, local), 264, 520);
    kernels::FusedDispatchGemm fused;
    ASSERT_EQ(fused.prepare(f.schedule, f.k, f.n, f.buffers), cudaSuccess);
    for (int copy_blocks : {2, 8, 32}) {  // back to back: the flags of the previous run must not count
      f.refill(rng);
      f.compute_reference(handle);
      ASSERT_EQ(fused.run(copy_blocks, nullptr), cudaSuccess);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      EXPECT_EQ(fused.watchdog(), -1);
      f.expect_output_matches("local source " + std::to_string(local) + ", " + std::to_string(copy_blocks) + " copy blocks");
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

}  // namespace
}  // namespace comet
