#include "cost_model.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

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
