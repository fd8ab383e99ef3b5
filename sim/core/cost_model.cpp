#include "cost_model.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "yaml_input.hpp"

namespace comet {

CostModel CostModel::defaults_for(const std::string& gpu_model) {
  CostModel model;
  model.gpu_model = gpu_model;
  if (gpu_model == "h100-sxm") return model;
  if (gpu_model == "h200") {
    model.hbm_Bps = 4.8e12;  // same tensor cores as H100 SXM, faster and larger HBM3e
    return model;
  }
  throw std::invalid_argument("no cost-model defaults for GPU '" + gpu_model + "'");
}

double CostModel::gemm_efficiency(double m) const {
  const auto& table = gemm_efficiency_by_m;
  if (m <= table.front().first) return table.front().second;
  if (m >= table.back().first) return table.back().second;
  for (std::size_t i = 1; i < table.size(); ++i) {
    if (m > table[i].first) continue;
    const double x0 = std::log2(table[i - 1].first), x1 = std::log2(table[i].first);
    const double t = (std::log2(m) - x0) / (x1 - x0);
    return table[i - 1].second + t * (table[i].second - table[i - 1].second);
  }
  return table.back().second;
}

double CostModel::gemm_time_s(double m, double n, double k, double compute_sm_fraction) const {
  if (m <= 0.0) return 0.0;
  const double flops = 2.0 * m * n * k;
  return flops / (peak_flops * gemm_efficiency(m) * std::clamp(compute_sm_fraction, 0.01, 1.0)) + launch_overhead_s;
}

double CostModel::memory_time_s(double bytes) const {
  return bytes <= 0.0 ? 0.0 : bytes / hbm_Bps + launch_overhead_s;
}

}  // namespace comet

namespace comet {

CostModel load_cost_model(const std::filesystem::path& path) {
  const YamlValue root = load_yaml_file(path);
  const YamlMap map = root.as_map({"gpu", "peak_flops", "hbm_bandwidth", "sm_count", "launch_overhead",
                                   "gemm_efficiency", "link_efficiency", "comm_sm_share",
                                   "comm_slowdown_with_compute"});
  CostModel model = CostModel::defaults_for(map.required("gpu").as_choice({"h100-sxm", "h200"}));
  if (auto v = map.optional("peak_flops")) model.peak_flops = v->as_number(1e9, 1e18);
  if (auto v = map.optional("hbm_bandwidth")) model.hbm_Bps = v->as_quantity(Dimension::BYTES_PER_SECOND);
  if (auto v = map.optional("sm_count")) model.sm_count = static_cast<int>(v->as_int(1, 1024));
  if (auto v = map.optional("launch_overhead")) model.launch_overhead_s = v->as_quantity(Dimension::SECONDS, true);
  if (auto v = map.optional("gemm_efficiency")) {
    model.gemm_efficiency_by_m.clear();
    for (const YamlValue& point : v->as_list()) {
      const std::vector<YamlValue> pair = point.as_list();
      if (pair.size() != 2) point.fail("expected [M, efficiency]");
      const double m = pair[0].as_number(1, 1e9);
      if (!model.gemm_efficiency_by_m.empty() && m <= model.gemm_efficiency_by_m.back().first)
        pair[0].fail("expected M values in increasing order");
      model.gemm_efficiency_by_m.emplace_back(m, pair[1].as_number(1e-4, 1.0));
    }
    if (model.gemm_efficiency_by_m.empty()) v->fail("expected at least one [M, efficiency] point");
  }
  if (auto v = map.optional("link_efficiency")) {
    const YamlMap classes = v->as_map({"nvlink", "pcie", "nic", "leaf", "spine", "core"});
    for (std::size_t c = 0; c < NUM_LINK_CLASSES; ++c)
      if (auto e = classes.optional(to_string(static_cast<LinkClass>(c)))) model.link_efficiency[c] = e->as_number(0.01, 1.0);
  }
  if (auto v = map.optional("comm_sm_share")) model.comm_sm_share = v->as_number(0.0, 0.9);
  if (auto v = map.optional("comm_slowdown_with_compute")) model.comm_slowdown_with_compute = v->as_number(0.0, 0.9);
  return model;
}

std::string cost_model_yaml(const CostModel& m) {
  std::string text = "# comet cost model (calibration file); see docs/file-formats.md\n";
  text += fmt::format("gpu: {}\npeak_flops: {:.6g}          # dense bf16 flop/s\nhbm_bandwidth: {:.6g}GB/s\n", m.gpu_model,
                      m.peak_flops, m.hbm_Bps / 1e9);
  text += fmt::format("sm_count: {}\nlaunch_overhead: {:.6g}us\ngemm_efficiency:            # [M, fraction of peak]\n",
                      m.sm_count, m.launch_overhead_s * 1e6);
  for (const auto& [rows, efficiency] : m.gemm_efficiency_by_m) text += fmt::format("  - [{:.6g}, {:.6g}]\n", rows, efficiency);
  text += "link_efficiency:            # fraction of link bandwidth an all-to-all reaches\n";
  for (std::size_t c = 0; c < NUM_LINK_CLASSES; ++c)
    text += fmt::format("  {}: {:.6g}\n", to_string(static_cast<LinkClass>(c)), m.link_efficiency[c]);
  text += fmt::format("comm_sm_share: {:.6g}\ncomm_slowdown_with_compute: {:.6g}\n", m.comm_sm_share,
                      m.comm_slowdown_with_compute);
  return text;
}

}  // namespace comet
