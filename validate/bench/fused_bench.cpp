// comet_gpu_bench section `fused`: COMET's fused kernels on GPU 0, the other GPUs' buffers in
// host-mapped pinned memory (`--fused-transport host`, any machine: the transfer blocks move rows
// over PCIe at about one 400 Gb/s NIC's rate), on the machine's other GPUs (`peer`: NVLink or
// PCIe peer access, what a multi-GPU node runs) or in this GPU's memory (`local`: no link, what
// the fused launch costs beyond its GEMM without a transport's effects), this GPU's own rows in
// device memory.
//  - dispatch (kernels/fused_dispatch_gemm.hpp): copy blocks pull the sources' rows, the GEMM
//    computes h13 = x w13 as they arrive;
//  - combine (kernels/fused_combine_gemm.hpp): the GEMM computes y = act w2, send blocks write each
//    finished tile back to the rows' sources.
// For each side: the GEMM part (the fused kernel with no transfer blocks, all rows here) against
// the per-expert cuBLAS GEMMs and the CUTLASS grouped GEMM of the same projection; then at each
// transfer-block count the transfers alone, the fused launch and the overlap efficiency
// (T_serial - T_fused) / (T_serial - max(T_transfer, T_gemm)), where T_serial = T_transfer + T_gemm,
// each at its best: the fastest of the transfers alone over the block counts and the copy engine
// (cudaMemcpyAsync per row run), the fastest of the three GEMMs.
#include <cublas_v2.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "bench_common.hpp"
#include "bench_sections.hpp"
#include "expert_ffn.hpp"
#include "fused_buffers.hpp"
#include "fused_combine_gemm.hpp"
#include "fused_dispatch_gemm.hpp"
#include "global_timer.hpp"
#include "gpu_error.hpp"
#include "grouped_gemm.hpp"
#include "median.hpp"
#include "paired_ratio.hpp"
#include "moe_model.hpp"

namespace comet::bench {

namespace {

// One side's shape and the GEMM part's three paths over the same expert-major rows.
struct Side {
  std::string model;
  std::int64_t tokens, rows_per_expert, k, n;
  int experts;
  std::int64_t remote_bytes;
  bool weights_transposed;                    // each expert's B stored [n, k] (W^T) instead of [k, n]
  DeviceBuffer<bf16> rows_in, weights, out;  // A [rows, k], B [experts][k][n] or [experts][n][k], D [rows, n]
  std::vector<std::int64_t> rows;
  std::vector<const bf16*> a, b;
  std::vector<bf16*> c;

  Side(std::string model_, std::int64_t tokens_, std::int64_t rows_per_expert_, std::int64_t k_, std::int64_t n_, int experts_,
       int sources, bool weights_transposed_)
      : model(std::move(model_)),
        tokens(tokens_),
        rows_per_expert(rows_per_expert_ / sources * sources),
        k(k_),
        n(n_),
        experts(experts_),
        weights_transposed(weights_transposed_),
        rows_in("rows in", experts_ * rows_per_expert * k_),
        weights("weights", static_cast<std::int64_t>(experts_) * k_ * n_),
        out("out", experts_ * rows_per_expert * n_) {
    fill(rows_in, 3), fill(weights, 5);
    for (int e = 0; e < experts; ++e) {
      rows.push_back(rows_per_expert);
      a.push_back(rows_in.get() + e * rows_per_expert * k);
      b.push_back(weights.get() + e * k * n);
      c.push_back(out.get() + e * rows_per_expert * n);
    }
  }
  double flops() const { return 2.0 * static_cast<double>(experts * rows_per_expert) * k * n; }
};

// Times every variant once per round, interleaved, so that a change of the machine's state shows in
// all of them. The first round in the given order, each later one in its own shuffled order (fixed
// seeds: the same every run): on a power-capped card a GEMM timed after a chain of other GEMMs runs
// slower (one H100, 2026-12-06: the same GEMM, the same tiles and groups, 1.195 ms first in the
// chain and 1.391 ms sixth), so a fixed order would charge its place to the variant. `after` runs
// after each (the fused kernels' watchdog). samples[variant][round], seconds.
std::vector<std::vector<double>> time_interleaved(const std::vector<std::function<void()>>& variants, int rounds, cudaStream_t stream,
                                                  const std::function<void()>& after) {
  std::vector<std::vector<double>> times(variants.size());
  std::vector<std::size_t> order(variants.size());
  for (int r = 0; r < rounds; ++r) {
    std::iota(order.begin(), order.end(), std::size_t{0});
    if (r > 0) {
      std::mt19937 rng(static_cast<unsigned>(r));
      std::shuffle(order.begin(), order.end(), rng);
    }
    for (std::size_t v : order) {
      times[v].push_back(time_s(variants[v], stream, 3));
      after();
    }
  }
  return times;
}

// A fused kernel's watchdog gave up on a flag: the launch ended, the GPU is usable, the shape's
// figures are not.
struct WatchdogTrip : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// `kernel`: a fused kernel (watchdog(), watchdog_report()).
template <class Kernel>
void throw_if_gave_up(Kernel& kernel, const std::string& what) {
  check_cuda(cudaDeviceSynchronize(), what);
  if (const int flag = kernel.watchdog(); flag >= 0)
    throw WatchdogTrip(fmt::format("{}: the fused kernel's watchdog gave up waiting on flag {}; {}", what, flag, kernel.watchdog_report()));
}

// Runs one side's measurement; a watchdog trip becomes a row saying so (the other shapes are still
// measured and every table printed) and is remembered in `tripped`.
void measure_side(const std::string& side, const std::string& model, std::int64_t tokens, std::vector<std::string>& gemm_rows,
                  std::string& tripped, const std::function<void()>& measure) {
  try {
    measure();
  } catch (const WatchdogTrip& trip) {
    gemm_rows.push_back(fmt::format("# {} {} tokens: not measured: {}", model, tokens, trip.what()));
    fmt::print(stderr, "# {} {} {}: not measured: {}\n", side, model, tokens, trip.what());
    if (tripped.empty()) tripped = trip.what();
  }
}

// One way of running a side's transfers: its name, the transfers alone and the fused launch at
// a transfer-block count.
struct TransferMode {
  std::string name;
  std::function<void(int)> transfers, fused;  // transfers empty: the mode has none of its own (the epilogue stores every row)
};

// The variants every side times first: 0 the fused kernel's GEMM alone, 1 per-expert cuBLAS,
// 2 CUTLASS grouped, 3 the copy engine; then `extra`, then per mode and block count the transfers
// alone and fused.
struct SideTimes {
  double fused_gemm, cublas, grouped, engine;  // medians over rounds, seconds
  std::vector<double> extra;
  std::vector<std::vector<double>> transfers, fused;  // [mode][block count]
  std::vector<std::vector<double>> samples;           // [variant][round], seconds, variants in the order above

  const std::vector<double>& fused_gemm_samples() const { return samples[0]; }
  const std::vector<double>& extra_samples(std::size_t x) const { return samples[4 + x]; }
  /// cuBLAS's and CUTLASS grouped's time over `gemm`'s (a GEMM variant's samples), paired by round.
  Quartiles cublas_over(const std::vector<double>& gemm) const { return paired_ratio(samples[1], gemm); }
  Quartiles grouped_over(const std::vector<double>& gemm) const { return paired_ratio(samples[2], gemm); }
};

SideTimes time_side(Side& side, cublasHandle_t handle, kernels::GroupedGemm& grouped, cudaStream_t stream, int rounds,
                    const std::function<void()>& fused_gemm, const std::function<void()>& engine, const std::vector<std::function<void()>>& extra,
                    const std::vector<int>& blocks, const std::vector<TransferMode>& modes, const std::function<void()>& watchdog) {
  std::vector<std::function<void()>> variants{
      fused_gemm,
      [&] {
        for (int e = 0; e < side.experts; ++e)
          check_cublas(kernels::gemm_bf16(handle, false, side.weights_transposed, side.rows[e], side.n, side.k, side.a[e], side.b[e], side.c[e], false), "cuBLAS");
      },
      [&] {
        check_cuda(grouped.run(side.experts, side.rows.data(), side.n, side.k, side.a.data(), side.b.data(), side.c.data(), side.weights_transposed,
                               stream),
                   "grouped GEMM");
      },
      engine};
  variants.insert(variants.end(), extra.begin(), extra.end());
  for (const TransferMode& mode : modes)
    for (int b : blocks) {
      if (mode.transfers) variants.push_back([&mode, b] { mode.transfers(b); });
      variants.push_back([&mode, b] { mode.fused(b); });
    }
  std::vector<std::vector<double>> samples = time_interleaved(variants, rounds, stream, watchdog);
  std::vector<double> t;
  for (const std::vector<double>& s : samples) t.push_back(median(s));
  SideTimes out{t[0], t[1], t[2], t[3], {}, {}, {}, std::move(samples)};
  std::size_t i = 4;
  for (std::size_t x = 0; x < extra.size(); ++x) out.extra.push_back(t[i++]);
  for (const TransferMode& mode : modes) {
    out.transfers.emplace_back(), out.fused.emplace_back();
    for (std::size_t x = 0; x < blocks.size(); ++x) {
      out.transfers.back().push_back(mode.transfers ? t[i++] : std::numeric_limits<double>::quiet_NaN());
      out.fused.back().push_back(t[i++]);
    }
  }
  return out;
}

// The GEMM table's row, then a comment line with the quartiles of the paired ratios (vs_* is their
// median).
std::string gemm_row(const Side& side, const SideTimes& t, const std::string& extra) {
  const Quartiles cub = t.cublas_over(t.fused_gemm_samples()), grp = t.grouped_over(t.fused_gemm_samples());
  return fmt::format("{:<14} {:>7} {:>7} {:>7} {:>6} {:>6} {:>9.3f} {:>8.1f} {:>9} {:>9.3f} {:>9.3f} {:>8.1f} {:>8.1f}\n"
                     "#   {} {} over {} rounds, quartiles: vs_cub {:.1f} {:.1f} {:.1f} %, vs_grp {:.1f} {:.1f} {:.1f} %",
                     side.model, side.tokens, side.experts, side.rows_per_expert, side.k, side.n, t.fused_gemm * 1e3,
                     side.flops() / t.fused_gemm * 1e-12, extra, t.cublas * 1e3, t.grouped * 1e3, 100.0 * cub.median, 100.0 * grp.median,
                     side.model, side.tokens, t.samples[0].size(), 100.0 * cub.q1, 100.0 * cub.median, 100.0 * cub.q3, 100.0 * grp.q1,
                     100.0 * grp.median, 100.0 * grp.q3);
}

// The GEMM part in each tile band: the first band's is the GEMM table's fused column, the others'
// are `t.extra` from `first_extra` on, then the first band's again (timed after the other bands, at
// another place in the round: the difference between the two is the noise, METHOD.md's "time the
// same version twice").
void band_rows(const std::string& side_name, const Side& side, const SideTimes& t, const std::vector<int>& bands, std::size_t first_extra,
               std::vector<std::string>& out, const std::vector<std::pair<std::string, std::size_t>>& other_orders = {}) {
  const auto row = [&](const std::string& band, const std::vector<double>& samples) {
    const double time = median(samples);
    out.push_back(fmt::format("{:<9} {:<14} {:>7} {:>6} {:>9.3f} {:>8.1f} {:>8.1f} {:>8.1f}", side_name, side.model, side.tokens, band,
                              time * 1e3, side.flops() / time * 1e-12, 100.0 * t.cublas_over(samples).median,
                              100.0 * t.grouped_over(samples).median));
  };
  for (std::size_t b = 0; b < bands.size(); ++b)
    row(std::to_string(bands[b]), b == 0 ? t.fused_gemm_samples() : t.extra_samples(first_extra + b - 1));
  row(std::to_string(bands[0]) + "*", t.extra_samples(first_extra + bands.size() - 1));
  for (const auto& [label, extra] : other_orders) row(label, t.extra_samples(extra));
}

void overlap_rows(const Side& side, const SideTimes& t, const std::vector<int>& blocks, const std::vector<TransferMode>& modes,
                  std::vector<std::string>& out) {
  const double gemm_best = std::min({t.fused_gemm, t.cublas, t.grouped});
  double transfer_best = t.engine;
  for (const auto& mode : t.transfers)
    for (double transfer : mode)
      if (!std::isnan(transfer)) transfer_best = std::min(transfer_best, transfer);
  const double serial = transfer_best + gemm_best, bound = std::max(transfer_best, gemm_best);
  for (std::size_t m = 0; m < modes.size(); ++m)
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      const double alone = t.transfers[m][i];  // NaN: the mode has no transfers of its own
      out.push_back(fmt::format("{:<14} {:>7} {:>8.1f} {:>7.1f} {:>11} {:>6} {:>9} {:>8} {:>9.3f} {:>9.3f} {:>9.3f} {:>9.3f} {:>6.2f}",
                                side.model, side.tokens, side.remote_bytes / 1048576.0, 100.0 * transfer_best / gemm_best, modes[m].name,
                                blocks[i], std::isnan(alone) ? "-" : fmt::format("{:.3f}", alone * 1e3),
                                std::isnan(alone) ? "-" : fmt::format("{:.1f}", side.remote_bytes / alone * 1e-9), t.fused[m][i] * 1e3,
                                serial * 1e3, bound * 1e3, t.engine * 1e3, (serial - t.fused[m][i]) / (serial - bound)));
    }
}

// Each shape's rows on stderr as soon as they are measured (the tables come at the end).
void report_progress(const std::string& side, const std::vector<std::string>& gemm, const std::vector<std::string>& overlap,
                     std::size_t overlap_rows_per_shape) {
  fmt::print(stderr, "# {} measured: {}\n", side, gemm.back());
  for (std::size_t i = overlap.size() - overlap_rows_per_shape; i < overlap.size(); ++i) fmt::print(stderr, "#   {}\n", overlap[i]);
}

void print_tables(const std::string& title, const std::string& extra_name, const std::vector<std::string>& gemm,
                  const std::vector<std::string>& overlap, const std::string& transfer) {
  fmt::print("\n# {}\n", title);
  fmt::print("{:<14} {:>7} {:>7} {:>7} {:>6} {:>6} {:>9} {:>8} {:>9} {:>9} {:>9} {:>8} {:>8}\n", "model", "tokens", "experts", "rows/e", "K",
             "N", "fused", "rate", extra_name, "cublas", "grouped", "vs_cub", "vs_grp");
  fmt::print("{:<14} {:>7} {:>7} {:>7} {:>6} {:>6} {:>9} {:>8} {:>9} {:>9} {:>9} {:>8} {:>8}\n", "#", "", "", "", "", "", "ms", "TFLOP/s", "ms",
             "ms", "ms", "%", "%");
  for (const auto& row : gemm) fmt::print("{}\n", row);
  fmt::print("# overlap: {} alone and fused at each block count (the GEMM gets the other SMs); tasks = who takes a transfer task\n"
             "# (blk: a block, wrp: each warp of it; epi: none, the epilogue stores every row straight into its source, the GEMM on\n"
             "# every SM whatever the block count; eng: the copy engines, each copy after a stream wait on its tiles' done flags, the\n"
             "# GEMM on every SM whatever the block count) / the tile band (L: combine units of this GPU's own rows last; D: those\n"
             "# rows stored by the epilogue straight into this GPU's combine buffer, not sent; @R: sends paced to R GB/s, all send\n"
             "# blocks together; X: the transfer blocks stop after their tasks, without X they then join the GEMM; T: each tile\n"
             "# counted done a tile later, when its warp asks for the tile after next, not as soon as its stores are complete);\n"
             "# serial = best\n"
             "# transfer + best GEMM; bound = max of the two;\n"
             "# engine = the copy engine for the same rows; effic = (serial - fused) / (serial - bound), >= 0.8 wanted where\n"
             "# transfer/gemm >= 20%\n",
             transfer);
  fmt::print("{:<14} {:>7} {:>8} {:>7} {:>11} {:>6} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9} {:>6}\n", "model", "tokens", "remote", "xfer/g", "tasks",
             "blocks", "alone", "rate", "fused", "serial", "bound", "engine", "effic");
  fmt::print("{:<14} {:>7} {:>8} {:>7} {:>11} {:>6} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9} {:>6}\n", "#", "", "MiB", "%", "", "", "ms", "GB/s", "ms",
             "ms", "ms", "ms", "");
  for (const auto& row : overlap) fmt::print("{}\n", row);
}

void print_band_table(const std::vector<std::string>& rows) {
  fmt::print("\n# GEMM part by tile band (all rows here, all SMs): within an expert, bands of `band` M tiles, each band N column\n"
             "# by N column (0: one band per expert, the default order); vs_* = cuBLAS's, CUTLASS grouped's time over this one's\n"
             "# in the same round, median over rounds;\n"
             "# `*`: the first band timed again, after the others (the two differ by the noise of the place in the round);\n"
             "# `L` (combine): the first band in the local-last order (the units of this GPU's own rows after all others);\n"
             "# `D`: this GPU's own rows stored by the epilogue straight into its combine buffer (not sent); `LD`: both;\n"
             "# `T`: each tile counted done a tile later (the combine's sends start then), not as soon as its stores are complete\n");
  fmt::print("{:<9} {:<14} {:>7} {:>6} {:>9} {:>8} {:>8} {:>8}\n", "side", "model", "tokens", "band", "fused", "rate", "vs_cub", "vs_grp");
  fmt::print("{:<9} {:<14} {:>7} {:>6} {:>9} {:>8} {:>8} {:>8}\n", "#", "", "", "tiles", "ms", "TFLOP/s", "%", "%");
  for (const auto& row : rows) fmt::print("{}\n", row);
}

std::string where_the_others_are(FusedTransport transport, int gpus) {
  switch (transport) {
    case FusedTransport::PEER: return fmt::format("on the other {} GPUs (peer access)", gpus - 1);
    case FusedTransport::LOCAL: return "in this GPU's memory too (no link)";
    default: return "host-mapped pinned memory";
  }
}

// What both sides share: the options, the GPU's handles, and the tables they add rows to.
struct FusedContext {
  FusedContext(const FusedOptions& options, int gpu_count)
      : o(options), bands(options.band_tiles.empty() ? std::vector<int>{0} : options.band_tiles), gpus(gpu_count) {}
  const FusedOptions& o;
  std::vector<int> bands;  // the first: the GEMM table's dispatch-order column and the combine's per-block sends
  int gpus = 0;
  cublasHandle_t handle = nullptr;
  cudaStream_t stream = nullptr;
  kernels::GroupedGemm grouped;
  std::vector<std::string> dispatch_gemm, dispatch_overlap, combine_gemm, combine_overlap, band_table;
};

// Dispatch: h13 = x w13, the rows pulled from the sources.
void measure_dispatch(FusedContext& c, const std::string& name, std::int64_t tokens, const MoeModel& m, int experts) {
  const std::vector<int>& bands = c.bands;
  const int band = bands.front();
  cudaStream_t stream = c.stream;
  const std::int64_t rows_per_expert = tokens * m.top_k / experts;
    Side side(name, tokens, rows_per_expert, m.hidden, 2 * m.expert_ffn, experts, c.o.sources, c.o.weights_transposed);
    const kernels::DispatchRoute route = even_route(side.rows_per_expert * experts, experts, c.o.sources);
    const kernels::FusedDispatchSchedule schedule = kernels::FusedDispatchGemm::schedule_for(route, side.n, band);
    const std::int64_t per_source = schedule.total_rows() / c.o.sources;
    PerSource source(c.o.sources, per_source * side.k, c.o.transport, c.gpus);
    check_cuda(cudaMemcpy(source.own.get(), side.rows_in.get(), per_source * side.k * sizeof(bf16), cudaMemcpyDefault), "own rows");
    for (int s = 1; s < c.o.sources; ++s)
      check_cuda(cudaMemcpy(source.pointers[s], side.rows_in.get() + s * per_source * side.k, per_source * side.k * sizeof(bf16),
                            cudaMemcpyDefault),
                 "source rows");
    side.remote_bytes = (c.o.sources - 1) * per_source * side.k * static_cast<std::int64_t>(sizeof(bf16));
    kernels::FusedDispatchBuffers buffers{{source.pointers.begin(), source.pointers.end()}, side.rows_in.get(), side.weights.get(),
                                          side.out.get()};
    // One fused kernel per band (the first's order is the GEMM table's `order` column).
    std::vector<std::unique_ptr<kernels::FusedDispatchGemm>> fused;
    for (int b : bands) {
      fused.push_back(std::make_unique<kernels::FusedDispatchGemm>());
      check_cuda(fused.back()->prepare(kernels::FusedDispatchGemm::schedule_for(route, side.n, b), side.k, side.n, buffers,
                                       side.weights_transposed),
                 "prepare the fused dispatch");
    }
    // The GEMM part with every row here, in each band: the route of one source (all rows local,
    // expert-major order), rows read in place.
    kernels::FusedDispatchBuffers in_place = buffers;
    in_place.sources = {side.rows_in.get()};
    std::vector<std::unique_ptr<kernels::FusedDispatchGemm>> local;
    for (int b : bands) {
      local.push_back(std::make_unique<kernels::FusedDispatchGemm>());
      check_cuda(local.back()->prepare(kernels::FusedDispatchGemm::schedule_for(even_route(schedule.total_rows(), experts, 1), side.n, b),
                                       side.k, side.n, in_place, side.weights_transposed),
                 "prepare the fused dispatch, all rows local");
    }
    std::vector<std::function<void()>> extra{[&] { check_cuda(fused[0]->run(0, stream), "fused GEMM, dispatch order"); }};
    for (std::size_t b = 1; b < bands.size(); ++b) extra.push_back([&, b] { check_cuda(local[b]->run(0, stream), "fused GEMM, band"); });
    extra.push_back([&] { check_cuda(local[0]->run(0, stream), "fused GEMM, again"); });
    // The first band's again with copy blocks that stop after their copies (X) instead of joining the GEMM.
    kernels::FusedDispatchGemm stopping;
    check_cuda(stopping.prepare(schedule, side.k, side.n, buffers, side.weights_transposed), "prepare the fused dispatch, copy blocks stopping");
    stopping.set_copy_blocks_join(false);
    std::vector<TransferMode> modes;
    const auto mode = [stream](const std::string& label, kernels::FusedDispatchGemm& kernel) {
      return TransferMode{label, [&kernel, stream](int n) { check_cuda(kernel.run_copies(n, stream), "copies"); },
                          [&kernel, stream](int n) { check_cuda(kernel.run(n, stream), "fused"); }};
    };
    for (std::size_t b = 0; b < bands.size(); ++b) modes.push_back(mode(fmt::format("blk/{}", bands[b]), *fused[b]));
    modes.push_back(mode(fmt::format("blk/{}X", band), stopping));
    const SideTimes t = time_side(
        side, c.handle, c.grouped, stream, c.o.rounds, [&] { check_cuda(local[0]->run(0, stream), "fused GEMM"); },
        [&] {
          for (const kernels::RowCopy& copy : schedule.copies)
            if (copy.source != 0)
              check_cuda(cudaMemcpyAsync(side.rows_in.get() + copy.dest_row * side.k, buffers.sources[copy.source] + copy.source_row * side.k,
                                         copy.rows * side.k * sizeof(bf16), cudaMemcpyDefault, stream),
                         "copy engine");
        },
        extra, c.o.blocks, modes, [&] {
          for (std::size_t b = 0; b < fused.size(); ++b)
            throw_if_gave_up(*fused[b], fmt::format("fused dispatch, band {}", bands[b]));
          throw_if_gave_up(stopping, "fused dispatch, copy blocks stopping");
        });
    c.dispatch_gemm.push_back(gemm_row(side, t, fmt::format("{:.3f}", t.extra[0] * 1e3)));
    band_rows("dispatch", side, t, bands, 1, c.band_table);
    overlap_rows(side, t, c.o.blocks, modes, c.dispatch_overlap);
    report_progress("dispatch", c.dispatch_gemm, c.dispatch_overlap, c.o.blocks.size() * modes.size());
}

// A combine kernel the bench times beside the default ones, in the first band unless `band` is
// set: the label of its overlap rows ("blk/0LD", "blk/0D@40"), of its GEMM part in the band table
// ("0LD"; timed when gemm_alone), its order, stores, send tasks and pace (GB/s, 0: unpaced).
struct CombineVariant {
  std::string label, order_label;
  kernels::CombineOrder order;
  kernels::CombineStores stores;
  kernels::FusedCombineGemm::SendTasks tasks;
  double pace_gbps;
  bool gemm_alone;
  bool join = true;  // the send blocks join the GEMM after their sends
  kernels::FusedCombineGemm::DoneCount done = kernels::FusedCombineGemm::DoneCount::AT_ONCE;
  bool engine = false;  // the copy engines send (run_engine), no send blocks
  int band = -1;        // M tiles per band, -1: the first band's
};

// The copy engines' variants (eng/): D and LD, and LD in bands of `source_band` M tiles (one
// source's rows per expert) when that is another band: whole rows per copy.
void add_engine_variants(int band, int source_band, std::vector<CombineVariant>& variants) {
  using kernels::CombineOrder;
  using kernels::CombineStores;
  using Tasks = kernels::FusedCombineGemm::SendTasks;
  using Count = kernels::FusedCombineGemm::DoneCount;
  const std::string d = std::to_string(band) + "D", ld = std::to_string(band) + "LD";
  // With fewer rows per source and expert than an M tile, every copy is a few rows and the engines'
  // cost per copy would dominate (DeepSeek-V3 at 4K: 32 rows, ~25,000 copies per run): not timed.
  if (source_band <= 0) return;
  variants.push_back({"eng/" + d, d, CombineOrder::EXPERT, CombineStores::LOCAL_DIRECT, Tasks::PER_BLOCK, 0.0, false, true, Count::AT_ONCE, true});
  variants.push_back({"eng/" + ld, ld, CombineOrder::LOCAL_LAST, CombineStores::LOCAL_DIRECT, Tasks::PER_BLOCK, 0.0, false, true, Count::AT_ONCE,
                      true});
  if (source_band != band) {
    const std::string sld = std::to_string(source_band) + "LD";
    variants.push_back({"eng/" + sld, sld, CombineOrder::LOCAL_LAST, CombineStores::LOCAL_DIRECT, Tasks::PER_BLOCK, 0.0, true, true,
                        Count::AT_ONCE, true, source_band});
  }
}

// L: local last (COMET's combine-side rescheduling: the units of this GPU's own rows after all
// others); D: this GPU's own rows stored by the epilogue straight into its combine buffer, not
// sent; both sends per block and per warp; LD per warp again with send blocks that stop after
// their sends (X); the expert order, LD and D with every tile counted done a tile later (T);
// the copy engines sending instead of send blocks (eng/: D and LD, and LD in bands of
// `source_band` M tiles, one source's rows per expert, when that is another band: whole rows per
// copy); then the expert order with own rows stored, sends per block paced to each of `paces`.
std::vector<CombineVariant> combine_variants(int band, int source_band, const std::vector<double>& paces) {
  using kernels::CombineOrder;
  using kernels::CombineStores;
  using Tasks = kernels::FusedCombineGemm::SendTasks;
  std::vector<CombineVariant> variants;
  for (const auto& [suffix, order, stores] : {std::tuple{"L", CombineOrder::LOCAL_LAST, CombineStores::SEND},
                                              std::tuple{"D", CombineOrder::EXPERT, CombineStores::LOCAL_DIRECT},
                                              std::tuple{"LD", CombineOrder::LOCAL_LAST, CombineStores::LOCAL_DIRECT}}) {
    const std::string order_label = std::to_string(band) + suffix;
    variants.push_back({"blk/" + order_label, order_label, order, stores, Tasks::PER_BLOCK, 0.0, true});
    variants.push_back({"wrp/" + order_label, order_label, order, stores, Tasks::PER_WARP, 0.0, false});
  }
  // The last (local last, own rows stored, per warp) again with send blocks that stop after their sends.
  CombineVariant stopping = variants.back();
  stopping.label += "X", stopping.join = false;
  variants.push_back(stopping);
  // The default and LD (sends per block) and D (per warp) with every tile counted done a tile later (T).
  using Count = kernels::FusedCombineGemm::DoneCount;
  const std::string plain = std::to_string(band), d = plain + "D", ld = plain + "LD";
  variants.push_back({"blk/" + plain + "T", plain + "T", CombineOrder::EXPERT, CombineStores::SEND, Tasks::PER_BLOCK, 0.0, true, true,
                      Count::ONE_TILE_LATER});
  variants.push_back({"blk/" + ld + "T", ld + "T", CombineOrder::LOCAL_LAST, CombineStores::LOCAL_DIRECT, Tasks::PER_BLOCK, 0.0, false, true,
                      Count::ONE_TILE_LATER});
  variants.push_back({"wrp/" + d + "T", d + "T", CombineOrder::EXPERT, CombineStores::LOCAL_DIRECT, Tasks::PER_WARP, 0.0, false, true,
                      Count::ONE_TILE_LATER});
  for (double gbps : paces) {
    const std::string order_label = std::to_string(band) + "D";
    variants.push_back({fmt::format("blk/{}@{}", order_label, gbps), order_label, CombineOrder::EXPERT, CombineStores::LOCAL_DIRECT,
                        Tasks::PER_BLOCK, gbps, false});
  }
  add_engine_variants(band, source_band, variants);
  return variants;
}

// One more fused run of `kernel` with `blocks` send blocks, %globaltimer stamped on the stream just
// before and after it: when its send blocks began and ended within the launch, so whether the sends
// or the GEMM end it ("# span" lines; one run, not a median).
void print_send_span(const std::string& label, int blocks, kernels::FusedCombineGemm& kernel, cudaStream_t stream) {
  DeviceBuffer<unsigned long long> stamps("timer stamps", 2);
  check_cuda(kernels::stamp_global_timer(stamps.get(), stream), "stamp");
  check_cuda(kernel.run(blocks, stream), "fused");
  check_cuda(kernels::stamp_global_timer(stamps.get() + 1, stream), "stamp");
  check_cuda(cudaStreamSynchronize(stream), "span run");
  unsigned long long at[2] = {0, 0};
  check_cuda(cudaMemcpy(at, stamps.get(), sizeof at, cudaMemcpyDeviceToHost), "stamps");
  const kernels::TransferSpan span = kernel.transfer_span();
  if (!span.ran()) return;
  const auto ms = [&](std::uint64_t ns) { return static_cast<double>(ns - at[0]) * 1e-6; };
  fmt::print("# span {:<11} {:>2} blocks: sends {:.3f} -> {:.3f} ms, launch ends by {:.3f} ms (from the stamp before it); "
             "SM clock meanwhile {:.0f} MHz\n",
             label, blocks, ms(span.start_ns), ms(span.end_ns), ms(at[1]), kernel.send_clock_mhz());
}

// The SM clock (one for the whole GPU) in three runs of the combine, one after the other: the GEMM
// beside `probe`'s blocks, which copy nothing and only wait for each tile in turn (so they run
// until the GEMM's last tile, and read the clock the GEMM alone runs at), the sends alone, and the
// fused launch ("# clock" line). Whether the GEMM slows beside the sends because the card lowers
// its clock (a power cap) or for a reason that leaves the clock alone.
void print_clocks(kernels::FusedCombineGemm& probe, kernels::FusedCombineGemm& kernel, int blocks, cudaStream_t stream) {
  const auto clock_of = [&](kernels::FusedCombineGemm& k, const std::function<cudaError_t()>& run) {
    check_cuda(run(), "clock run");
    check_cuda(cudaStreamSynchronize(stream), "clock run");
    return k.send_clock_mhz();
  };
  const double gemm = clock_of(probe, [&] { return probe.run(kernels::FusedCombineGemm::CLUSTER_M, stream); });
  const double sends = clock_of(kernel, [&] { return kernel.run_sends(blocks, stream); });
  const double fused = clock_of(kernel, [&] { return kernel.run(blocks, stream); });
  fmt::print("# clock {} send blocks: GEMM (beside {} idle probe blocks) {:.0f} MHz, sends alone {:.0f} MHz, fused {:.0f} MHz\n", blocks,
             kernels::FusedCombineGemm::CLUSTER_M, gemm, sends, fused);
}

// Combine: y = act w2, the rows sent back to their sources.
void measure_combine(FusedContext& c, const std::string& name, std::int64_t tokens, const MoeModel& m, int experts) {
  const std::vector<int>& bands = c.bands;
  const int band = bands.front();
  cudaStream_t stream = c.stream;
  const std::int64_t rows_per_expert = tokens * m.top_k / experts;
    Side side(name, tokens, rows_per_expert, m.expert_ffn, m.hidden, experts, c.o.sources, c.o.weights_transposed);
    const kernels::DispatchRoute route = even_route(side.rows_per_expert * experts, experts, c.o.sources);
    const kernels::FusedCombineSchedule schedule = kernels::FusedCombineGemm::schedule_for(route, side.n, band);
    const std::int64_t per_source = schedule.total_rows() / c.o.sources;
    PerSource destination(c.o.sources, per_source * side.n, c.o.transport, c.gpus);
    side.remote_bytes = (c.o.sources - 1) * per_source * side.n * static_cast<std::int64_t>(sizeof(bf16));
    kernels::FusedCombineBuffers buffers{side.rows_in.get(), side.weights.get(), side.out.get(),
                                         {destination.pointers.begin(), destination.pointers.end()}, {}};
    // One kernel per band, sends per warp, and the first band's with sends per block.
    std::vector<std::unique_ptr<kernels::FusedCombineGemm>> fused;
    for (int b : bands) {
      fused.push_back(std::make_unique<kernels::FusedCombineGemm>());
      check_cuda(fused.back()->prepare(kernels::FusedCombineGemm::schedule_for(route, side.n, b), side.k, side.n, buffers,
                                       side.weights_transposed),
                 "prepare the fused combine");
      fused.back()->set_send_tasks(kernels::FusedCombineGemm::SendTasks::PER_WARP);
    }
    kernels::FusedCombineGemm per_block;
    check_cuda(per_block.prepare(schedule, side.k, side.n, buffers, side.weights_transposed), "prepare the fused combine");
    per_block.set_send_tasks(kernels::FusedCombineGemm::SendTasks::PER_BLOCK);
    // The first band in other orders and stores (combine_variants), and every row stored by the
    // epilogue straight into its source (no send blocks at all).
    // A band of one source's rows per expert (even routes: every source sends each expert as many
    // rows; whole M tiles of them only when those rows are a multiple of TILE_M, else a band
    // straddles two sources and its copies are one source's part of it each).
    const int source_band = static_cast<int>(side.rows_per_expert / c.o.sources / kernels::FusedCombineGemm::TILE_M);
    std::vector<CombineVariant> variants = combine_variants(band, source_band, c.o.send_paces);
    std::vector<std::unique_ptr<kernels::FusedCombineGemm>> kernels_of;
    std::string engine_copies;
    for (const CombineVariant& v : variants) {
      kernels_of.push_back(std::make_unique<kernels::FusedCombineGemm>());
      check_cuda(kernels_of.back()->prepare(kernels::FusedCombineGemm::schedule_for(route, side.n, v.band < 0 ? band : v.band, v.order, v.stores),
                                            side.k, side.n, buffers, side.weights_transposed),
                 "prepare the fused combine, " + v.label);
      kernels_of.back()->set_send_tasks(v.tasks);
      kernels_of.back()->set_send_rate(v.pace_gbps * 1e9);
      kernels_of.back()->set_send_blocks_join(v.join);
      kernels_of.back()->set_done_count(v.done);
      if (v.engine) engine_copies += fmt::format(" {} {},", v.label, kernels_of.back()->engine_copy_count());
    }
    if (!engine_copies.empty()) {
      engine_copies.pop_back();
      fmt::print(stderr, "# {} {} combine, engine copies per run:{}\n", name, tokens, engine_copies);
    }
    cudaStream_t engine_stream = nullptr;
    check_cuda(cudaStreamCreateWithFlags(&engine_stream, cudaStreamNonBlocking), "engine stream");
    kernels::FusedCombineGemm all_direct;
    check_cuda(all_direct.prepare(kernels::FusedCombineGemm::schedule_for(route, side.n, band, kernels::CombineOrder::EXPERT,
                                                                          kernels::CombineStores::ALL_DIRECT),
                                  side.k, side.n, buffers, side.weights_transposed),
               "prepare the fused combine, every row stored");
    std::vector<std::function<void()>> extra;
    for (std::size_t b = 1; b < bands.size(); ++b) extra.push_back([&, b] { check_cuda(fused[b]->run(0, stream), "fused GEMM, band"); });
    extra.push_back([&] { check_cuda(fused[0]->run(0, stream), "fused GEMM, again"); });
    std::vector<std::pair<std::string, std::size_t>> other_orders;  // label, index in extra
    for (std::size_t v = 0; v < variants.size(); ++v)
      if (variants[v].gemm_alone) {
        other_orders.emplace_back(variants[v].order_label, extra.size());
        extra.push_back([&, v] { check_cuda(kernels_of[v]->run(0, stream), "fused GEMM, " + variants[v].label); });
      }
    const auto mode = [stream](const std::string& label, kernels::FusedCombineGemm& kernel) {
      return TransferMode{label, [&kernel, stream](int b) { check_cuda(kernel.run_sends(b, stream), "sends"); },
                          [&kernel, stream](int b) { check_cuda(kernel.run(b, stream), "fused"); }};
    };
    std::vector<TransferMode> modes{mode(fmt::format("blk/{}", band), per_block)};
    for (std::size_t b = 0; b < bands.size(); ++b) modes.push_back(mode(fmt::format("wrp/{}", bands[b]), *fused[b]));
    // The copy engines' modes: the block count is not used (the GEMM on all SMs, the copies beside it).
    const auto engine_mode = [stream, engine_stream](const std::string& label, kernels::FusedCombineGemm& kernel) {
      return TransferMode{label, [&kernel, stream](int) { check_cuda(kernel.run_engine_sends(stream), "engine copies"); },
                          [&kernel, stream, engine_stream](int) { check_cuda(kernel.run_engine(stream, engine_stream), "fused, copy engines"); }};
    };
    for (std::size_t v = 0; v < variants.size(); ++v)
      modes.push_back(variants[v].engine ? engine_mode(variants[v].label, *kernels_of[v]) : mode(variants[v].label, *kernels_of[v]));
    // No send blocks: the block count is not used (every row of this mode is timed with the GEMM on all SMs).
    modes.push_back(TransferMode{fmt::format("epi/{}", band), {}, [&all_direct, stream](int) { check_cuda(all_direct.run(0, stream), "fused"); }});
    const SideTimes t = time_side(
        side, c.handle, c.grouped, stream, c.o.rounds, [&] { check_cuda(fused[0]->run(0, stream), "fused GEMM"); },
        [&] {
          for (const kernels::RowSend& send : schedule.sends)
            if (send.source != 0 && send.n == 0)  // whole rows: every N tile at once
              check_cuda(cudaMemcpyAsync(buffers.destinations[send.source] + send.dest_row * side.n, side.out.get() + send.row * side.n,
                                         send.rows * side.n * sizeof(bf16), cudaMemcpyDefault, stream),
                         "copy engine");
        },
        extra, c.o.blocks, modes, [&] {
          for (std::size_t b = 0; b < fused.size(); ++b)
            throw_if_gave_up(*fused[b], fmt::format("fused combine, band {}, sends per warp", bands[b]));
          throw_if_gave_up(per_block, "fused combine, sends per block");
          for (std::size_t v = 0; v < variants.size(); ++v) throw_if_gave_up(*kernels_of[v], "fused combine, " + variants[v].label);
        });
    kernels::FusedCombineSchedule idle = schedule;  // the same tiles; sends that copy nothing
    for (kernels::RowSend& send : idle.sends) send.rows = 0;
    kernels::FusedCombineGemm probe;
    check_cuda(probe.prepare(idle, side.k, side.n, buffers, side.weights_transposed), "prepare the clock probe");
    for (int b : c.o.blocks) {
      print_clocks(probe, per_block, b, stream);
      print_send_span(fmt::format("blk/{}", band), b, per_block, stream);
      for (std::size_t v = 0; v < variants.size(); ++v)
        if (!variants[v].engine && variants[v].tasks == kernels::FusedCombineGemm::SendTasks::PER_BLOCK) print_send_span(variants[v].label, b, *kernels_of[v], stream);
    }
    check_cuda(cudaStreamDestroy(engine_stream), "engine stream");
    c.combine_gemm.push_back(gemm_row(side, t, "-"));
    band_rows("combine", side, t, bands, 0, c.band_table, other_orders);
    overlap_rows(side, t, c.o.blocks, modes, c.combine_overlap);
    report_progress("combine", c.combine_gemm, c.combine_overlap, c.o.blocks.size() * modes.size());
}

}  // namespace

void fused_section(const FusedOptions& o) {
  int gpus = 0;
  check_cuda(cudaGetDeviceCount(&gpus), "GPU count");
  if (o.transport == FusedTransport::PEER && gpus < 2) {
    fmt::print("\n# Fused kernels over peer access: skipped (needs 2 GPUs, this machine has {})\n", gpus);
    return;
  }
  check_cuda(cudaSetDevice(0), "GPU 0");
  std::string why_not;
  if (!kernels::FusedDispatchGemm::available(&why_not) || !kernels::GroupedGemm::available(&why_not)) {
    fmt::print("\n# Fused kernels: skipped ({})\n", why_not);
    return;
  }
  FusedContext c(o, gpus);
  check_cublas(cublasCreate(&c.handle), "cuBLAS");
  check_cuda(cudaStreamCreate(&c.stream), "stream");
  check_cublas(cublasSetStream(c.handle, c.stream), "stream");
  std::string tripped;  // the first watchdog trip, if any
  for (const std::string& name : o.models) {
    const MoeModel m = *find_model_preset(name);
    const int experts = std::max(1, m.experts / o.ep);
    for (std::int64_t tokens : o.tokens) {
      measure_side("dispatch", name, tokens, c.dispatch_gemm, tripped, [&] { measure_dispatch(c, name, tokens, m, experts); });
      measure_side("combine", name, tokens, c.combine_gemm, tripped, [&] { measure_combine(c, name, tokens, m, experts); });
    }
  }
  const std::string preamble =
      fmt::format("{} sources, source 0 this GPU (device memory), the others {}; rows/e = tokens x top_k / local experts (EP {}); "
                  "{} interleaved rounds (the first in the listed order, the others shuffled), medians; weights stored {}",
                  o.sources, where_the_others_are(o.transport, gpus), o.ep, o.rounds,
                  o.weights_transposed ? "[n, k] per expert (W^T, nn.Linear's layout: K-major B in every GEMM here)"
                                       : "[k, n] per expert (comet's own layout: N-major B in every GEMM here)");
  print_tables("Fused dispatch + expert GEMM (h13 = x w13): " + preamble +
                   ".\n# fused = the kernel's GEMM alone, rows already here, all SMs; order = the same in the dispatch order (local pass, "
                   "then expert\n# pass); cublas / grouped = per-expert cuBLAS, CUTLASS grouped; vs_* = the median over rounds of their time "
                   "over fused's in the\n# same round (>= 95% of cuBLAS's rate wanted; the quartiles on the line below each row)",
               "order", c.dispatch_gemm, c.dispatch_overlap, "copies (pull from the sources)");
  print_tables("Fused expert GEMM + combine (y = act w2): " + preamble +
                   ".\n# fused = the kernel's GEMM alone (no send blocks), all SMs; cublas / grouped as above",
               "-", c.combine_gemm, c.combine_overlap, "sends (write back to the sources)");
  print_band_table(c.band_table);
  cublasDestroy(c.handle);
  cudaStreamDestroy(c.stream);
  if (!tripped.empty()) throw std::runtime_error("a fused kernel hung (rows marked `not measured` above): " + tripped);
}

}  // namespace comet::bench
