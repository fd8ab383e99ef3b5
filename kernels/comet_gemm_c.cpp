// The C API of comet_gemm_c.h: one kernel of comet's (grouped, or a fused kernel's GEMM part with
// every row local) prepared once over caller-owned device buffers, run on the caller's stream.
#include "comet_gemm_c.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "fused_combine_gemm.hpp"
#include "fused_dispatch_gemm.hpp"
#include "grouped_gemm.hpp"

namespace {

using bf16 = __nv_bfloat16;

thread_local std::string last_error;

// Records why a call failed; returns `value` so that callers can `return fail(...)`.
template <class T>
T fail(T value, std::string why) {
  last_error = std::move(why);
  return value;
}

// cudaFree on scope exit.
struct DeviceFree {
  void operator()(void* p) const { cudaFree(p); }
};

}  // namespace

struct comet_gemm {
  int kind = COMET_GEMM_GROUPED;
  int experts = 0;
  std::int64_t k = 0, n = 0;
  bool weights_transposed = false;
  std::vector<std::int64_t> rows;
  std::vector<const bf16*> a, b;  // per expert (the grouped kernel's host arrays)
  std::vector<bf16*> d;
  comet::kernels::GroupedGemm grouped;
  std::unique_ptr<comet::kernels::FusedDispatchGemm> dispatch;
  std::unique_ptr<comet::kernels::FusedCombineGemm> combine;
  std::unique_ptr<void, DeviceFree> combine_destination;  // the combine's one destination, which run(0) never writes
};

namespace {

std::string validate(int kind, int experts, const std::int64_t* rows, std::int64_t k, std::int64_t n, const void* a, const void* b, const void* d) {
  if (kind < COMET_GEMM_GROUPED || kind > COMET_GEMM_FUSED_COMBINE)
    return "kind " + std::to_string(kind) + ": expected 0 (grouped), 1 (fused dispatch) or 2 (fused combine)";
  if (experts <= 0) return "experts " + std::to_string(experts) + ": expected at least 1";
  if (rows == nullptr) return "rows: expected a host array of `experts` row counts, got NULL";
  for (int e = 0; e < experts; ++e)
    if (rows[e] < 0) return "rows[" + std::to_string(e) + "] " + std::to_string(rows[e]) + ": expected >= 0";
  if (k <= 0 || k % 8 != 0) return "k " + std::to_string(k) + ": expected a positive multiple of 8";
  if (n <= 0 || n % 8 != 0) return "n " + std::to_string(n) + ": expected a positive multiple of 8";
  if (a == nullptr || b == nullptr || d == nullptr) return "a, b and d: expected device pointers, got NULL";
  return "";
}

// Whether `kind`'s kernel runs in this process; if not, why.
bool kind_available(int kind, std::string* why_not) {
  switch (kind) {
    case COMET_GEMM_FUSED_DISPATCH: return comet::kernels::FusedDispatchGemm::available(why_not);
    case COMET_GEMM_FUSED_COMBINE: return comet::kernels::FusedCombineGemm::available(why_not);
    default: return comet::kernels::GroupedGemm::available(why_not);
  }
}

cudaError_t prepare_fused(comet_gemm& g, const comet::kernels::DispatchRoute& route, int band_tiles, std::int64_t total_rows) {
  using namespace comet::kernels;
  if (g.kind == COMET_GEMM_FUSED_DISPATCH) {
    // One source, this GPU, whose rows are already in the receive buffer: read in place.
    const FusedDispatchBuffers buffers{{g.a[0]}, const_cast<bf16*>(g.a[0]), g.b[0], g.d[0]};
    g.dispatch = std::make_unique<FusedDispatchGemm>();
    return g.dispatch->prepare(FusedDispatchGemm::schedule_for(route, g.n, band_tiles), g.k, g.n, buffers, g.weights_transposed);
  }
  void* destination = nullptr;
  if (const cudaError_t e = cudaMalloc(&destination, std::max<std::int64_t>(total_rows, 1) * g.n * sizeof(bf16)); e != cudaSuccess) return e;
  g.combine_destination.reset(destination);
  const FusedCombineBuffers buffers{g.a[0], g.b[0], g.d[0], {static_cast<bf16*>(destination)}, {}};
  g.combine = std::make_unique<FusedCombineGemm>();
  return g.combine->prepare(FusedCombineGemm::schedule_for(route, g.n, band_tiles), g.k, g.n, buffers, g.weights_transposed);
}

}  // namespace

extern "C" {

comet_gemm* comet_gemm_create(int kind, int experts, const int64_t* rows, int64_t k, int64_t n, const void* a, const void* b, void* d,
                              int weights_transposed, int band_tiles) {
  last_error.clear();
  if (std::string why = validate(kind, experts, rows, k, n, a, b, d); !why.empty()) return fail<comet_gemm*>(nullptr, "comet_gemm_create: " + why);
  if (band_tiles < 0) return fail<comet_gemm*>(nullptr, "comet_gemm_create: band_tiles " + std::to_string(band_tiles) + ": expected >= 0");
  if (std::string why; !kind_available(kind, &why)) return fail<comet_gemm*>(nullptr, "comet_gemm_create: " + why);
  auto g = std::make_unique<comet_gemm>();
  g->kind = kind, g->experts = experts, g->k = k, g->n = n, g->weights_transposed = weights_transposed != 0;
  g->rows.assign(rows, rows + experts);
  std::int64_t offset = 0;
  for (int e = 0; e < experts; ++e) {
    g->a.push_back(static_cast<const bf16*>(a) + offset * k);
    g->b.push_back(static_cast<const bf16*>(b) + e * k * n);
    g->d.push_back(static_cast<bf16*>(d) + offset * n);
    offset += rows[e];
  }
  cudaError_t status = cudaSuccess;
  if (kind == COMET_GEMM_GROUPED) {
    status = g->grouped.reserve();
  } else {
    const comet::kernels::DispatchRoute route{1, experts, 0, g->rows};
    status = prepare_fused(*g, route, band_tiles, offset);
  }
  if (status != cudaSuccess) return fail<comet_gemm*>(nullptr, std::string("comet_gemm_create: prepare: ") + cudaGetErrorString(status));
  return g.release();
}

int comet_gemm_run(comet_gemm* g, void* stream_handle) {
  last_error.clear();
  if (g == nullptr) return fail<int>(cudaErrorInvalidValue, "comet_gemm_run: NULL handle");
  const auto stream = static_cast<cudaStream_t>(stream_handle);
  cudaError_t status = cudaSuccess;
  switch (g->kind) {
    case COMET_GEMM_FUSED_DISPATCH: status = g->dispatch->run(0, stream); break;
    case COMET_GEMM_FUSED_COMBINE: status = g->combine->run(0, stream); break;
    default:
      status = g->grouped.run(g->experts, g->rows.data(), g->n, g->k, g->a.data(), g->b.data(), g->d.data(), g->weights_transposed, stream);
  }
  if (status != cudaSuccess) return fail<int>(status, std::string("comet_gemm_run: ") + cudaGetErrorString(status));
  return 0;
}

void comet_gemm_destroy(comet_gemm* g) { delete g; }

const char* comet_gemm_last_error(void) { return last_error.c_str(); }

}  // extern "C"
