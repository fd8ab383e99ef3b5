// comet_gpu_bench section `fused`: COMET's fused dispatch + expert GEMM (kernels/fused_dispatch_gemm.hpp)
// on one GPU, its sources in host-mapped pinned memory (the copy blocks pull them over PCIe at
// about one 400 Gb/s NIC's rate) except the destination's own rows.
//   1. The GEMM part with every row already received, against the per-expert cuBLAS GEMMs and
//      the CUTLASS grouped GEMM of the same projection (x w13 of the expert FFN).
//   2. Overlap at each copy-block count: the copies alone, the fused launch, and the overlap
//      efficiency (T_serial - T_fused) / (T_serial - max(T_copy, T_gemm)), where T_serial = T_copy +
//      T_gemm, each at its best: the fastest of the copies alone over the block counts and the copy
//      engine (cudaMemcpyAsync per source), the fastest of the three GEMMs.
#include <cublas_v2.h>
#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <stdexcept>
#include <vector>

#include "bench_common.hpp"
#include "bench_sections.hpp"
#include "expert_ffn.hpp"
#include "fused_dispatch_gemm.hpp"
#include "gpu_error.hpp"
#include "grouped_gemm.hpp"
#include "median.hpp"
#include "moe_model.hpp"

namespace comet::bench {

namespace {

// Pinned host memory the GPU reads through its mapped address: a remote source.
class HostSource {
 public:
  explicit HostSource(std::int64_t count) {
    check_cuda(cudaHostAlloc(&host_, static_cast<std::size_t>(std::max<std::int64_t>(count, 1)) * sizeof(bf16), cudaHostAllocMapped),
               "pinned source");
    check_cuda(cudaHostGetDevicePointer(reinterpret_cast<void**>(&device_), host_, 0), "mapped source");
  }
  ~HostSource() { cudaFreeHost(host_); }
  HostSource(const HostSource&) = delete;
  HostSource& operator=(const HostSource&) = delete;
  bf16* device() const { return device_; }

 private:
  bf16* host_ = nullptr;
  bf16* device_ = nullptr;
};

// Rows spread evenly over local experts and sources (the rest of the division dropped).
kernels::DispatchRoute even_route(std::int64_t rows, int experts, int sources) {
  kernels::DispatchRoute route{sources, experts, 0, {}};
  route.rows.assign(static_cast<std::size_t>(experts) * sources, rows / (static_cast<std::int64_t>(experts) * sources));
  return route;
}

struct Shape {
  std::string model;
  std::int64_t tokens, rows_per_expert, k, n;
  int experts, sources;
};

// Everything one shape needs on the GPU and the three GEMM paths over the received rows.
struct Setup {
  Shape shape;
  kernels::FusedDispatchSchedule schedule;
  std::vector<std::unique_ptr<HostSource>> host_sources;
  DeviceBuffer<bf16> local, received, weights, out;
  std::vector<std::int64_t> source_bytes;
  kernels::FusedDispatchBuffers buffers;

  explicit Setup(const Shape& s)
      : shape(s),
        schedule(kernels::FusedDispatchGemm::schedule_for(even_route(s.rows_per_expert * s.experts, s.experts, s.sources), s.n)),
        local("own rows", schedule.total_rows() / s.sources * s.k),
        received("received rows", schedule.total_rows() * s.k),
        weights("w13", static_cast<std::int64_t>(s.experts) * s.k * s.n),
        out("h13", schedule.total_rows() * s.n) {
    const std::int64_t per_source = schedule.total_rows() / s.sources;
    for (int src = 0; src < s.sources; ++src) {
      if (src == 0) {
        buffers.sources.push_back(local.get());
        host_sources.emplace_back();
      } else {
        host_sources.push_back(std::make_unique<HostSource>(per_source * s.k));
        buffers.sources.push_back(host_sources.back()->device());
      }
      source_bytes.push_back(per_source * s.k * static_cast<std::int64_t>(sizeof(bf16)));
    }
    fill(local, 3), fill(weights, 5);
    // The remote sources' values: filled on the device, then copied to the pinned memory.
    for (int src = 1; src < s.sources; ++src)
      check_cuda(cudaMemcpy(host_sources[static_cast<std::size_t>(src)]->device(), local.get(), static_cast<std::size_t>(source_bytes[src]),
                            cudaMemcpyDefault),
                 "fill source");
    buffers.received = received.get(), buffers.weights = weights.get(), buffers.out = out.get();
  }
  std::int64_t remote_bytes() const {
    std::int64_t b = 0;
    for (std::size_t src = 1; src < source_bytes.size(); ++src) b += source_bytes[src];
    return b;
  }
};

void check_watchdog(kernels::FusedDispatchGemm& fused, const std::string& what) {
  check_cuda(cudaDeviceSynchronize(), what);
  if (const int flag = fused.watchdog(); flag >= 0)
    throw std::runtime_error(fmt::format("{}: the fused kernel's watchdog gave up waiting for the rows of arrival flag {}", what, flag));
}

}  // namespace

void fused_section(const std::vector<std::string>& models, const std::vector<std::int64_t>& tokens_list, int ep, int sources,
                   const std::vector<int>& copy_blocks, int rounds) {
  std::string why_not;
  if (!kernels::FusedDispatchGemm::available(&why_not) || !kernels::GroupedGemm::available(&why_not)) {
    fmt::print("\n# Fused dispatch: skipped ({})\n", why_not);
    return;
  }
  cublasHandle_t handle = nullptr;
  check_cublas(cublasCreate(&handle), "cuBLAS");
  cudaStream_t stream = nullptr;
  check_cuda(cudaStreamCreate(&stream), "stream");
  check_cublas(cublasSetStream(handle, stream), "stream");
  kernels::FusedDispatchGemm fused, local_gemm;
  kernels::GroupedGemm grouped;
  std::vector<std::string> gemm_rows, overlap_rows;
  for (const std::string& name : models) {
    const MoeModel m = *find_model_preset(name);
    const int experts = std::max(1, m.experts / ep);
    for (std::int64_t tokens : tokens_list) {
      const Shape shape{name, tokens, tokens * m.top_k / experts, m.hidden, 2 * m.expert_ffn, experts, sources};
      Setup setup(shape);
      check_cuda(fused.prepare(setup.schedule, shape.k, shape.n, setup.buffers), "prepare the fused kernel");
      // The GEMM part with every row already here: the same kernel on the route of one source (all
      // rows local, expert-major order), its rows read in place from the receive buffer.
      kernels::FusedDispatchBuffers in_place = setup.buffers;
      in_place.sources = {setup.received.get()};
      check_cuda(local_gemm.prepare(kernels::FusedDispatchGemm::schedule_for(even_route(shape.rows_per_expert * experts, experts, 1), shape.n),
                                    shape.k, shape.n, in_place),
                 "prepare the fused kernel, all rows local");
      std::vector<const bf16*> a, b;
      std::vector<bf16*> c;
      std::vector<std::int64_t> rows;
      for (int e = 0; e < experts; ++e) {
        const std::int64_t first = setup.schedule.expert_first_row[e];
        rows.push_back(setup.schedule.expert_first_row[e + 1] - first);
        a.push_back(setup.received.get() + first * shape.k);
        b.push_back(setup.weights.get() + e * shape.k * shape.n);
        c.push_back(setup.out.get() + first * shape.n);
      }
      // The variants, timed interleaved round by round: 0 the fused kernel's GEMM on local rows,
      // 1 per-expert cuBLAS, 2 CUTLASS grouped, 3 copy engine, 4 the fused kernel's GEMM in the
      // dispatch order with every row already in, then per copy-block count the copies alone and fused.
      std::vector<std::function<void()>> variants{
          [&] { check_cuda(local_gemm.run(0, stream), "fused GEMM alone"); },
          [&] {
            for (int e = 0; e < experts; ++e)
              check_cublas(kernels::gemm_bf16(handle, false, false, rows[e], shape.n, shape.k, a[e], b[e], c[e], false), "cuBLAS");
          },
          [&] { check_cuda(grouped.run(experts, rows.data(), shape.n, shape.k, a.data(), b.data(), c.data(), false, stream), "grouped"); },
          [&] {
            for (const kernels::RowCopy& copy : setup.schedule.copies)
              if (copy.source != 0)
                check_cuda(cudaMemcpyAsync(setup.received.get() + copy.dest_row * shape.k, setup.buffers.sources[copy.source] + copy.source_row * shape.k,
                                           copy.rows * shape.k * sizeof(bf16), cudaMemcpyDefault, stream),
                           "copy engine");
          },
          [&] { check_cuda(fused.run(0, stream), "fused GEMM alone, dispatch order"); }};
      for (int blocks : copy_blocks) {
        variants.push_back([&, blocks] { check_cuda(fused.run_copies(blocks, stream), "copies alone"); });
        variants.push_back([&, blocks] { check_cuda(fused.run(blocks, stream), "fused"); });
      }
      // The grouped GEMM sizes its workspace on its first call.
      check_cuda(grouped.run(experts, rows.data(), shape.n, shape.k, a.data(), b.data(), c.data(), false, stream), "grouped");
      std::vector<std::vector<double>> times(variants.size());
      for (int r = 0; r < rounds; ++r)
        for (std::size_t v = 0; v < variants.size(); ++v) {
          times[v].push_back(time_s(variants[v], stream, 3));
          check_watchdog(fused, "fused dispatch");
        }
      std::vector<double> t;
      for (auto& samples : times) t.push_back(median(samples));
      const double flops = 2.0 * static_cast<double>(setup.schedule.total_rows()) * shape.k * shape.n;
      const double gemm_best = std::min({t[0], t[1], t[2]});
      double copy_best = t[3];
      for (std::size_t i = 0; i < copy_blocks.size(); ++i) copy_best = std::min(copy_best, t[5 + 2 * i]);
      gemm_rows.push_back(fmt::format("{:<14} {:>7} {:>7} {:>7} {:>6} {:>6} {:>9.3f} {:>8.1f} {:>9.3f} {:>9.3f} {:>9.3f} {:>8.1f} {:>8.1f}", name,
                                      tokens, experts, shape.rows_per_expert, shape.k, shape.n, t[0] * 1e3, flops / t[0] * 1e-12, t[4] * 1e3,
                                      t[1] * 1e3, t[2] * 1e3, 100.0 * t[1] / t[0], 100.0 * t[2] / t[0]));
      const double serial = copy_best + gemm_best, bound = std::max(copy_best, gemm_best);
      const double remote_mib = setup.remote_bytes() / 1048576.0;
      for (std::size_t i = 0; i < copy_blocks.size(); ++i) {
        const double copy_alone = t[5 + 2 * i], fused_s = t[6 + 2 * i];
        overlap_rows.push_back(fmt::format("{:<14} {:>7} {:>8.1f} {:>7.1f} {:>6} {:>9.3f} {:>8.1f} {:>9.3f} {:>9.3f} {:>9.3f} {:>9.3f} {:>6.2f}",
                                           name, tokens, remote_mib, 100.0 * copy_best / gemm_best, copy_blocks[i], copy_alone * 1e3,
                                           setup.remote_bytes() / copy_alone * 1e-9, fused_s * 1e3, serial * 1e3, bound * 1e3,
                                           t[3] * 1e3, (serial - fused_s) / (serial - bound)));
      }
    }
  }
  fmt::print("\n# Fused dispatch + expert GEMM (x w13), one GPU: {} sources, source 0 this GPU's own rows (device memory), the others\n"
             "# host-mapped pinned memory read by the copy blocks over PCIe. rows/e = tokens x top_k / local experts (EP {}).\n"
             "# {} interleaved rounds, medians. GEMM alone: every row already received, all SMs; cublas = per-expert cuBLAS GEMMs,\n"
             "# grouped = the CUTLASS grouped GEMM, each as % of the fused kernel's rate (>= 95% of cuBLAS wanted); order = the\n"
             "# fused kernel's GEMM in the dispatch order (local pass, then expert pass) with every row already in\n",
             sources, ep, rounds);
  fmt::print("{:<14} {:>7} {:>7} {:>7} {:>6} {:>6} {:>9} {:>8} {:>9} {:>9} {:>9} {:>8} {:>8}\n", "model", "tokens", "experts", "rows/e", "K",
             "N", "fused", "rate", "order", "cublas", "grouped", "vs_cub", "vs_grp");
  fmt::print("{:<14} {:>7} {:>7} {:>7} {:>6} {:>6} {:>9} {:>8} {:>9} {:>9} {:>9} {:>8} {:>8}\n", "#", "", "", "", "", "", "ms", "TFLOP/s", "ms",
             "ms", "ms", "%", "%");
  for (const auto& row : gemm_rows) fmt::print("{}\n", row);
  fmt::print("\n# Overlap: copies alone and fused at each copy-block count (the GEMM gets the other SMs); serial = best copy +\n"
             "# best GEMM; bound = max of the two; engine = the copy engine's time for the same rows; efficiency =\n"
             "# (serial - fused) / (serial - bound), >= 0.8 wanted where copy/gemm >= 20%\n");
  fmt::print("{:<14} {:>7} {:>8} {:>7} {:>6} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9} {:>6}\n", "model", "tokens", "remote", "copy/g", "blocks",
             "copies", "rate", "fused", "serial", "bound", "engine", "effic");
  fmt::print("{:<14} {:>7} {:>8} {:>7} {:>6} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9} {:>6}\n", "#", "", "MiB", "%", "", "ms", "GB/s", "ms", "ms",
             "ms", "ms", "");
  for (const auto& row : overlap_rows) fmt::print("{}\n", row);
  cublasDestroy(handle);
  cudaStreamDestroy(stream);
}

}  // namespace comet::bench
