// What the fused kernels' GPU tests share (tests/gpu/fused_*_test.cpp): other GPUs' buffers as
// host-mapped pinned memory, random data, the documented layouts independent of the schedules, the
// combine side's data with its cuBLAS references, and the row comparison in bf16 tolerance.
#pragma once

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
#include "fused_combine_gemm.hpp"
#include "gpu_test_support.hpp"
#include "random_fill.hpp"

namespace comet::fused_testing {

using namespace comet::testing;
using bf16 = __nv_bfloat16;

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
  bf16* device() const { return device_; }

 private:
  std::size_t count_;
  bf16* host_ = nullptr;
  bf16* device_ = nullptr;
};

inline std::vector<bf16> random_bf16(std::size_t count, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::vector<bf16> out(count);
  for (auto& v : out) v = __float2bfloat16(value(rng));
  return out;
}

// Every (expert, source) segment of a route where the documented layout puts it: in the
// expert-major buffer an expert's rows in wave order (the destination's own first, then local + 1,
// local + 2, ...); in each source's buffer its rows for the destination expert by expert.
// Independent of the schedules.
template <class Visit>  // visit(expert, source, expert_major_row, source_row, rows)
void for_each_segment(const kernels::DispatchRoute& route, Visit visit) {
  std::int64_t expert_first = 0;
  for (int e = 0; e < route.experts; ++e) {
    std::int64_t dest = expert_first;
    for (int w = 0; w < route.sources; ++w) {
      const int s = (route.local_source + w) % route.sources;
      std::int64_t source_first = 0;
      for (int e2 = 0; e2 < e; ++e2) source_first += route.rows_of(e2, s);
      visit(e, s, dest, source_first, route.rows_of(e, s));
      dest += route.rows_of(e, s);
    }
    expert_first = dest;
  }
}

// Relative L2 and, per row, the largest difference against the row's largest reference value;
// NaN anywhere (a row never written) fails.
inline void expect_rows_match(const std::vector<float>& got, const std::vector<float>& want, std::int64_t n, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  double diff = 0, norm = 0;
  for (std::size_t r = 0; r * n < got.size(); ++r) {
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

// Ragged: expert 1 gets no rows, source 2 sends nothing, segments of 0-300 rows; k and n not
// multiples of the tile (K and N residues).
inline kernels::DispatchRoute ragged_route(std::mt19937_64& rng, int local_source) {
  kernels::DispatchRoute route{4, 5, local_source, {}};
  std::uniform_int_distribution<std::int64_t> rows(0, 300);
  for (int e = 0; e < route.experts; ++e)
    for (int s = 0; s < route.sources; ++s) route.rows.push_back(e == 1 || s == 2 ? 0 : rows(rng));
  return route;
}

// The combine side's data: act in the expert-major layout of `route`, the weights, the GEMM's own
// output, and one destination buffer per source (this GPU's own in device memory, the others
// host-mapped), each with its reference.
struct CombineFixture {
  kernels::DispatchRoute route;
  std::int64_t k = 0, n = 0;
  std::vector<std::int64_t> source_rows;
  kernels::FusedCombineSchedule schedule;
  kernels::FusedCombineBuffers buffers;
  bf16 *act = nullptr, *weights = nullptr, *out = nullptr;
  std::vector<bf16*> device_destinations, references;
  std::vector<std::unique_ptr<HostMapped>> host_destinations;
  bool transposed = false;  // weights stored W_e^T, [n, k]

  CombineFixture(kernels::DispatchRoute r, std::int64_t k_, std::int64_t n_, int band_tiles = 0,
                 kernels::CombineOrder order = kernels::CombineOrder::EXPERT, kernels::CombineStores stores = kernels::CombineStores::SEND)
      : route(std::move(r)), k(k_), n(n_) {
    schedule = kernels::FusedCombineGemm::schedule_for(route, n, band_tiles, order, stores);
    source_rows.assign(route.sources, 0);
    for (int e = 0; e < route.experts; ++e)
      for (int s = 0; s < route.sources; ++s) source_rows[s] += route.rows_of(e, s);
    const std::int64_t rows = std::max<std::int64_t>(schedule.total_rows(), 1);
    act = to_device(std::vector<bf16>(rows * k));
    weights = to_device(std::vector<bf16>(std::max(route.experts, 1) * k * n));
    out = to_device(std::vector<bf16>(rows * n));
    for (int s = 0; s < route.sources; ++s) {
      references.push_back(to_device(std::vector<bf16>(std::max<std::int64_t>(source_rows[s], 1) * n)));
      if (s == route.local_source) {
        device_destinations.push_back(to_device(std::vector<bf16>(std::max<std::int64_t>(source_rows[s], 1) * n)));
        buffers.destinations.push_back(device_destinations.back());
        host_destinations.emplace_back();
      } else {
        host_destinations.push_back(std::make_unique<HostMapped>(source_rows[s] * n));
        buffers.destinations.push_back(host_destinations.back()->device());
      }
    }
    buffers.act = act, buffers.weights = weights, buffers.out = out;
  }
  ~CombineFixture() {
    for (bf16* p : {act, weights, out}) cudaFree(p);
    for (bf16* p : device_destinations) cudaFree(p);
    for (bf16* p : references) cudaFree(p);
  }

  // New act and weights; every destination poisoned with NaN; the references from cuBLAS.
  void refill(std::mt19937_64& rng, cublasHandle_t handle) {
    const std::vector<bf16> a = random_bf16(schedule.total_rows() * k, rng), w = random_bf16(route.experts * k * n, rng);
    ASSERT_EQ(cudaMemcpy(act, a.data(), a.size() * sizeof(bf16), cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(weights, w.data(), w.size() * sizeof(bf16), cudaMemcpyHostToDevice), cudaSuccess);
    poison_and_reference(handle);
  }
  // The same with the data drawn on the GPU (shapes of real models: billions of values).
  void refill_on_device(std::uint64_t seed, cublasHandle_t handle) {
    ASSERT_EQ(kernels::random_fill_bf16(act, schedule.total_rows() * k, seed, 1.0f, nullptr), cudaSuccess);
    ASSERT_EQ(kernels::random_fill_bf16(weights, route.experts * k * n, seed + 1, 1.0f / std::sqrt(static_cast<float>(k)), nullptr),
              cudaSuccess);
    poison_and_reference(handle);
  }
  void poison_and_reference(cublasHandle_t handle) {
    poison();
    for_each_segment(route, [&](int e, int s, std::int64_t expert_major_row, std::int64_t source_row, std::int64_t rows) {
      if (rows > 0) {
        ASSERT_EQ(kernels::gemm_bf16(handle, false, transposed, rows, n, k, act + expert_major_row * k, weights + e * k * n,
                                     references[s] + source_row * n, false),
                  CUBLAS_STATUS_SUCCESS);
      }
    });
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  }
  void poison() {
    for (int s = 0; s < route.sources; ++s)
      ASSERT_EQ(cudaMemset(buffers.destinations[s], 0xFF, source_rows[s] * n * sizeof(bf16)), cudaSuccess);
  }
  void expect_destinations_match(const std::string& what) {
    for (int s = 0; s < route.sources; ++s)
      expect_rows_match(to_float(to_host(buffers.destinations[s], source_rows[s] * n)), to_float(to_host(references[s], source_rows[s] * n)), n,
                        what + ", destination " + std::to_string(s));
  }
};

#define COMET_REQUIRE_FUSED_COMBINE()                        \
  do {                                                       \
    COMET_REQUIRE_GPUS(1);                                   \
    std::string why;                                         \
    if (!kernels::FusedCombineGemm::available(&why)) {       \
      GTEST_SKIP() << "SKIPPED: " << why;                    \
    }                                                        \
  } while (false)

}  // namespace comet::fused_testing
