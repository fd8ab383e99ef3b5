// Cost of operations on a GPU: GEMM time from flops, peak and an efficiency table over M,
// memory-bound ops from HBM bandwidth, a launch overhead per kernel, and the SM share that
// communication kernels take from GEMMs. Defaults are public datasheet figures for H100 SXM and
// H200 with efficiencies from ../shared/notes/gpu-node-reference.md; the calibration issue fills
// the same parameters from measurements.
#pragma once

#include <array>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "topology.hpp"

namespace comet {

struct CostModel {
  std::string gpu_model = "h100-sxm";
  double peak_flops = 989e12;        ///< dense bf16 tensor-core peak, flop/s
  double hbm_Bps = 3.35e12;          ///< HBM bandwidth, bytes/s
  int sm_count = 132;
  double launch_overhead_s = 5e-6;   ///< per kernel launch
  /// GEMM efficiency (fraction of peak) by M (rows), interpolated in log2(M).
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

  /// Defaults for "h100-sxm" or "h200"; throws std::invalid_argument for others.
  static CostModel defaults_for(const std::string& gpu_model);

  double gemm_efficiency(double m) const;
  /// Seconds for an M x N x K GEMM (2MNK flops) on `compute_sm_fraction` of the SMs;
  /// 0 when M is 0 (no launch for an expert with no tokens).
  double gemm_time_s(double m, double n, double k, double compute_sm_fraction = 1.0) const;
  /// Seconds for a memory-bound kernel moving `bytes` (read + write counted by the caller).
  double memory_time_s(double bytes) const;
  /// Effective all-to-all bandwidth of a link.
  double effective_Bps(const TopologyLink& link) const {
    return link.bandwidth_Bps * link_efficiency[static_cast<std::size_t>(link.link_class)];
  }
};

/// Reads a calibration file (YAML; schema in docs/file-formats.md). Unknown keys, bad values
/// and a missing file throw InputError.
CostModel load_cost_model(const std::filesystem::path& path);
/// The YAML text of a cost model, readable by load_cost_model.
std::string cost_model_yaml(const CostModel& model);

}  // namespace comet
