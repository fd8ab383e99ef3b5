// Cost of operations on a GPU, one model for every engine and every policy (DESIGN.md, "Cost
// model"). Two layers of figures:
//   - datasheet defaults for H100 SXM and H200 (peak flop/s, HBM bandwidth, a GEMM efficiency
//     curve over M, link efficiencies, interference shares), used for whatever was not measured;
//   - measured figures from `comet calibrate` (calibration YAML, calibration_file.hpp): per op
//     kind and direction a linear cost (overhead + amount / rate) for memory-bound kernels and
//     the router / attention / shared-expert GEMMs, and per expert shape (H, F) measured tables of
//     seconds per expert over M for the forward, the data gradient and the weight gradient.
// Every measured figure replaces the datasheet formula for the ops it covers and nothing else.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "plan.hpp"
#include "topology.hpp"

namespace comet {

/// Seconds = overhead_s + amount / rate: a kernel class priced by one quantity (bytes or flops).
struct LinearCost {
  double overhead_s = 0.0;  ///< fixed seconds per op (launches, graph replay, tails)
  double rate = 0.0;        ///< amount per second (bytes/s or flop/s), > 0
  double time_s(double amount) const { return overhead_s + amount / rate; }
  bool operator==(const LinearCost&) const = default;
};

/// The three expert passes of a SwiGLU FFN, each its own GEMM shapes.
enum class ExpertPass : std::uint8_t { FORWARD, DATA_GRADIENT, WEIGHT_GRADIENT };
inline constexpr std::size_t NUM_EXPERT_PASSES = 3;
std::string_view to_string(ExpertPass pass);

/// The launches of COMET's fused kernels in a `comet:B` expert pass, one per projection (the
/// Plan's EXPERT_GEMM stage): forward gate_up (stage 0), down (1); data gradient down (0),
/// gate_up (1). The weight gradient is not fused.
inline constexpr std::size_t NUM_FUSED_LAUNCHES = 4;
/// Index of the launch of `pass` (forward or data gradient) and `stage` (0, 1).
std::size_t fused_launch(ExpertPass pass, int stage);
/// "forward_gate_up", "forward_down", "data_gradient_down", "data_gradient_gate_up".
std::string_view fused_launch_name(std::size_t launch);

/// A measured table: (x, seconds) points with x strictly increasing.
using MeasuredCurve = std::vector<std::pair<double, double>>;

/// Index of an op kind and direction in a kernel-cost array.
constexpr std::size_t kernel_cost_index(OpKind kind, Direction direction) {
  return static_cast<std::size_t>(kind) * 2 + static_cast<std::size_t>(direction);
}
/// Measured linear costs per op kind and direction (kernel_cost_index): PERMUTE and UNPERMUTE by
/// op.bytes, GATE, NON_MOE and SHARED_EXPERT by op.flops.
using KernelCosts = std::array<std::optional<LinearCost>, NUM_OP_KINDS * 2>;

/// What was measured for one model shape (H, F): its kernels' linear costs (a router GEMM's time
/// depends on the shape, not on flops alone) and its expert tables: seconds per expert over M
/// (its rows), the op's experts running as the real executor runs them (spread over parallel
/// lanes, captured in a CUDA graph), so an op's experts cost the sum of their entries.
/// What COMET's fused kernels measured for one shape at one transfer-block count (`comet:B`).
struct FusedScales {
  int blocks = 0;  ///< B
  /// Per launch (fused_launch): its measured time over what the shape's tables price the same op
  /// at on the same SMs (the fused GEMM has its own tile scheduler and clusters and runs beside
  /// its transfer blocks, and the pass's time is split between its two launches by flops), by the
  /// op's mean rows per expert M: [M, scale] points, linear in log M between them, the nearest
  /// outside; empty: not measured (1). On one H100 (2026-12-06, B = 8) DeepSeek-V3's forward down
  /// launch measured 1.25 to 2.1 and its gate_up 0.9 to 1.1, Mixtral's forward gate_up 1.20 at M 256
  /// and 1.05 at M 4096, and DeepSeek-V3's forward ran faster at B = 16 than at 8: no one number
  /// per shape fits.
  std::array<MeasuredCurve, NUM_FUSED_LAUNCHES> by_m;
  bool operator==(const FusedScales&) const = default;
};

struct ShapeCosts {
  int hidden = 0;  ///< H
  int ffn = 0;     ///< F
  KernelCosts kernels{};
  std::array<MeasuredCurve, NUM_EXPERT_PASSES> seconds_by_m;
  /// COMET's fused kernels (`comet:B` Plans) per measured B, by increasing B; empty: not measured.
  std::vector<FusedScales> fused{};
};

/// Where the figures came from, written into calibration files and echoed by every command.
struct CostModelSource {
  std::string file;                                        ///< empty: built-in
  std::vector<std::pair<std::string, std::string>> provenance;  ///< gpu_name, driver, date, command, ...
  std::string value(const std::string& key) const;         ///< "" when absent
};

/// Fit quality of one measured table: relative residuals |fit - measured| / measured.
struct FitQuality {
  std::string table;
  int points = 0;
  double median_residual = 0.0;
  double max_residual = 0.0;
};

struct CostModel {
  std::string gpu_model = "h100-sxm";
  double peak_flops = 989e12;        ///< dense bf16 tensor-core peak, flop/s
  double hbm_Bps = 3.35e12;          ///< HBM bandwidth, bytes/s
  int sm_count = 132;
  double launch_overhead_s = 5e-6;   ///< per kernel launch
  /// GEMM efficiency (fraction of peak) by M (rows), interpolated in log2(M): the datasheet
  /// fallback for shapes no measured table covers.
  std::vector<std::pair<double, double>> gemm_efficiency_by_m{
      {1, 0.005}, {64, 0.15}, {256, 0.45}, {1024, 0.70}, {4096, 0.78}, {16384, 0.78}};
  /// Fraction of a link's bandwidth an all-to-all reaches, per link class (nvlink, pcie, nic,
  /// leaf, spine, core). NVLink: NCCL all-to-all measured 275 of 450 GB/s on NV18 (shared notes).
  std::array<double, NUM_LINK_CLASSES> link_efficiency{0.61, 0.85, 0.90, 0.95, 0.95, 0.95};
  /// Share of a GPU's SMs that communication kernels take while they run: concurrent compute
  /// slows by 1 / (1 - share). Not applied to ops that already reserve SMs (fine-grained).
  double comm_sm_share = 0.10;
  /// Fraction of all-to-all bandwidth lost while GEMMs run on the same GPUs (they leave the
  /// communication kernels fewer SMs and memory bandwidth).
  double comm_slowdown_with_compute = 0.10;
  /// Seconds an all-to-all costs per message a GPU posts: one per peer it sends to and one per
  /// peer it receives from (NCCL's grouped send/receive sets each up and its kernels walk them),
  /// paid before bandwidth matters; the op pays it for its GPU with the most. A direct
  /// all-to-all over 1024 GPUs posts 2046 per GPU, a hierarchical one far fewer. The default,
  /// 1 us, is an assumption until a multi-GPU calibration measures it.
  double a2a_per_message_s = 1e-6;
  /// Seconds a GPU's compute stream loses per second a memory-bound kernel (permute, unpermute)
  /// runs beside it on another stream: they share SMs and HBM, so a chunk's permute beside
  /// another chunk's expert GEMMs is not free. 0 = free overlap, 1 = as if serialised; measured
  /// by calibration (one H200, 2026-12-02: 1.01; GEMMs of a chunked layer up to 19% slower than
  /// the same GEMMs alone). The datasheet default is that measurement.
  double memory_kernel_interference = 1.0;
  /// Share of its alone rate a memory kernel (permute, unpermute) runs at while compute work of
  /// its GPU runs beside it (compute_streams.hpp): its blocks wait for the SMs the GEMMs hold, so
  /// its span stretches, while the compute stream pays memory_kernel_interference for its work.
  /// In [0.01, 1] (the fit keeps it at 0.02 or more); 1 = spans as alone. Measured by calibration (the median, over the memory kernels
  /// that ran beside compute work, of the rate their measured spans imply). Datasheet default 1.
  double memory_kernel_rate_beside_compute = 1.0;
  /// Bytes per second one transfer block of COMET's fused kernels moves (a dispatch copy block or
  /// a combine send block: kernels/fused_launch.cuh). Datasheet default: 25 GB/s, what one copy
  /// block read from host-mapped memory on one H100 (BENCHMARKS.md, "COMET's fused kernels on one
  /// GPU"); over NVLink not yet measured (issue 19). Calibration files: `fused_block_bandwidth`.
  double fused_block_Bps = 25e9;
  /// Cap on a GPU-attached link (NVLink, PCIe to its NIC) while a fused Plan runs: its transfer
  /// blocks x fused_block_Bps (with_transfer_blocks); 0: none. Each such link is capped on its
  /// own, though the blocks serve both at once: an upper bound when a GPU sends over both.
  double transfer_cap_Bps = 0.0;

  /// Measured kernel costs over every shape the calibration ran: for shapes it did not run.
  /// Unset: the datasheet formula.
  KernelCosts kernel_costs{};
  /// Measured per model shape, one entry per (H, F).
  std::vector<ShapeCosts> shapes;
  CostModelSource source;
  std::vector<FitQuality> fit_quality;  ///< as printed by the calibration that wrote it

  /// Defaults for "h100-sxm" or "h200"; throws std::invalid_argument for others.
  static CostModel defaults_for(const std::string& gpu_model);

  double gemm_efficiency(double m) const;
  /// Seconds for an M x N x K GEMM (2MNK flops) on `compute_sm_fraction` of the SMs: the larger
  /// of its flops at the efficiency of M and the bf16 bytes it must move (A, B read once, C
  /// written) over HBM bandwidth, plus a launch; 0 when M is 0 (no launch for an empty expert).
  double gemm_time_s(double m, double n, double k, double compute_sm_fraction = 1.0) const;
  /// Seconds for a memory-bound kernel moving `bytes` (read + write counted by the caller).
  double memory_time_s(double bytes) const;
  /// Seconds of one expert of shape (H, F) with `m` rows in `pass`: the measured table of that
  /// shape when there is one (log-log interpolation; below its first M the first entry, above its
  /// last proportional to M), never below the bytes the pass must move (its weights read once per
  /// op, so once per chunk) over HBM bandwidth; without a table the GEMMs' datasheet time.
  double expert_time_s(ExpertPass pass, double m, int hidden, int ffn) const;
  const ShapeCosts* shape(int hidden, int ffn) const;
  /// The scale of shape (H, F)'s fused `launch` with `blocks` transfer blocks at mean rows per
  /// expert `m`: from the measured B nearest `blocks` (ties: the smaller), 1 where not measured.
  double fused_scale(int blocks, std::size_t launch, double m, int hidden, int ffn) const;
  /// The measured cost of a kind and direction for shape (H, F): the shape's own, else the one
  /// over every shape, else none (the datasheet formula applies).
  const std::optional<LinearCost>& kernel_cost(OpKind kind, Direction direction, int hidden, int ffn) const;
  /// Effective all-to-all bandwidth of a link.
  double effective_Bps(const TopologyLink& link) const {
    const double Bps = link.bandwidth_Bps * link_efficiency[static_cast<std::size_t>(link.link_class)];
    const bool gpu_attached = link.link_class == LinkClass::NVLINK || link.link_class == LinkClass::PCIE;
    return transfer_cap_Bps > 0.0 && gpu_attached ? std::min(Bps, transfer_cap_Bps) : Bps;
  }
  /// This model for a Plan whose transfers run on `blocks` fused transfer blocks per GPU
  /// (PlanHeader::transfer_blocks; 0: itself).
  CostModel with_transfer_blocks(int blocks) const;
  /// One line for command preambles: "h200, calibrated DATE on GPU (FILE)", "h100-sxm datasheet
  /// defaults", or "h200 from FILE (no measurement provenance)" for a file without a date.
  std::string description() const;
};

/// Interpolates a measured curve in log-log (both axes positive); clamps below the first point
/// and scales proportionally above the last.
double interpolate_log_log(const MeasuredCurve& curve, double x);
/// Interpolates (M, value) points linearly in log M; the first value below them, the last above
/// (a non-empty table, M increasing).
double interpolate_log_m(const std::vector<std::pair<double, double>>& table, double m);

}  // namespace comet
