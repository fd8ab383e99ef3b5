#include "calibration_file.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "builtin_files.hpp"
#include "yaml_input.hpp"

namespace comet {
namespace {

// Kernel-cost keys: "<op kind>_<direction>"; memory-bound kinds are priced by bytes.
bool priced_by_bytes(OpKind kind) { return kind == OpKind::PERMUTE || kind == OpKind::UNPERMUTE; }
constexpr OpKind KERNEL_KINDS[] = {OpKind::PERMUTE, OpKind::UNPERMUTE, OpKind::GATE, OpKind::NON_MOE, OpKind::SHARED_EXPERT};

std::string kernel_key(OpKind kind, Direction direction) {
  return fmt::format("{}_{}", to_string(kind), to_string(direction));
}

// [[M, y], ...] with M increasing from min_x and y in [min_y, max_y] (`y_name` in messages).
MeasuredCurve read_curve(const YamlValue& value, double min_x, double min_y = 1e-12, double max_y = 1e3,
                         const char* y_name = "seconds") {
  MeasuredCurve curve;
  for (const YamlValue& point : value.as_list()) {
    const std::vector<YamlValue> pair = point.as_list();
    if (pair.size() != 2) point.fail(fmt::format("expected [M, {}]", y_name));
    const double x = pair[0].as_number(min_x, 1e12);
    if (!curve.empty() && x <= curve.back().first) pair[0].fail(fmt::format("M values in increasing order (after {})", curve.back().first));
    curve.emplace_back(x, pair[1].as_number(min_y, max_y));
  }
  if (curve.empty()) value.fail(fmt::format("at least one [M, {}] point", y_name));
  return curve;
}

void read_kernels(const YamlValue& value, KernelCosts& kernels) {
  std::vector<std::string> names;
  for (OpKind kind : KERNEL_KINDS)
    for (Direction d : {Direction::FORWARD, Direction::BACKWARD}) names.push_back(kernel_key(kind, d));
  if (!value.is_map()) value.fail("a map of op kinds");  // keys checked below against `names`
  std::vector<std::string> seen;
  for (const auto& entry : value.node()) {
    const YamlValue key_value(entry.first, value.file(), value.path());
    const std::string key = key_value.as_string();
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) key_value.fail("each op kind once");
    seen.push_back(key);
    bool known = false;
    for (OpKind kind : KERNEL_KINDS)
      for (Direction d : {Direction::FORWARD, Direction::BACKWARD}) {
        if (key != kernel_key(kind, d)) continue;
        known = true;
        const YamlValue item(entry.second, value.file(), value.path() + "." + key);
        const YamlMap cost = item.as_map({"overhead", "rate"});
        LinearCost c;
        c.overhead_s = cost.required("overhead").as_quantity(Dimension::SECONDS, true);
        c.rate = priced_by_bytes(kind) ? cost.required("rate").as_quantity(Dimension::BYTES_PER_SECOND)
                                       : cost.required("rate").as_number(1e6, 1e18);
        kernels[kernel_cost_index(kind, d)] = c;
      }
    if (!known) {
      const YamlValue item(entry.first, value.file(), value.path() + "." + key);
      item.fail(fmt::format("one of {}", fmt::join(names, ", ")));
    }
  }
}

ShapeCosts read_shape(const YamlValue& value) {
  const YamlMap map = value.as_map({"hidden", "ffn", "kernels", "forward", "data_gradient", "weight_gradient", "fused_scale"});
  ShapeCosts table;
  table.hidden = static_cast<int>(map.required("hidden").as_int(1, 1 << 20));
  table.ffn = static_cast<int>(map.required("ffn").as_int(1, 1 << 20));
  for (std::size_t p = 0; p < NUM_EXPERT_PASSES; ++p)
    if (auto v = map.optional(to_string(static_cast<ExpertPass>(p)))) table.seconds_by_m[p] = read_curve(*v, 1.0);
  if (auto v = map.optional("kernels")) read_kernels(*v, table.kernels);
  if (auto v = map.optional("fused_scale"))
    for (const YamlValue& item : v->as_list()) {
      const YamlMap entry = item.as_map({"blocks", fused_launch_name(0), fused_launch_name(1), fused_launch_name(2), fused_launch_name(3)});
      FusedScales scales;
      scales.blocks = static_cast<int>(entry.required("blocks").as_int(1, 1024));
      if (!table.fused.empty() && scales.blocks <= table.fused.back().blocks)
        entry.required("blocks").fail(fmt::format("blocks in increasing order (after {})", table.fused.back().blocks));
      for (std::size_t l = 0; l < NUM_FUSED_LAUNCHES; ++l)
        if (auto s = entry.optional(fused_launch_name(l))) scales.by_m[l] = read_curve(*s, 1e-3, 0.05, 20.0, "scale");
      table.fused.push_back(std::move(scales));
    }
  return table;
}

CostModel read_cost_model(const YamlValue& root, const std::string& file) {
  const YamlMap map = root.as_map({"gpu", "provenance", "peak_flops", "hbm_bandwidth", "sm_count", "launch_overhead",
                                   "gemm_efficiency", "link_efficiency", "comm_sm_share", "comm_slowdown_with_compute",
                                   "a2a_per_message", "memory_kernel_interference", "memory_kernel_rate_beside_compute",
                                   "fused_block_bandwidth", "kernels", "shapes", "fit_quality"});
  CostModel model = CostModel::defaults_for(map.required("gpu").as_choice({"h100-sxm", "h200"}));
  model.source.file = file;
  if (auto v = map.optional("provenance")) {
    const YamlMap p(*v, {"gpu_name", "gpu_sm_count", "gpus", "driver", "cuda_runtime", "cublas", "nccl", "date", "command",
                         "nccl_env", "comet_version"});
    for (std::string_view key : PROVENANCE_KEYS)
      if (auto item = p.optional(key)) model.source.provenance.emplace_back(std::string(key), item->as_string());
  }
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
  // Not measured on one node yet: a file without it keeps the datasheet assumption.
  if (auto v = map.optional("a2a_per_message")) model.a2a_per_message_s = v->as_quantity(Dimension::SECONDS, true);
  // Written by every comet since it exists; a file without it predates it and was made by
  // engines that let memory kernels overlap for free (0), which its Plans must be rebuilt with.
  const auto interference = map.optional("memory_kernel_interference");
  model.memory_kernel_interference = interference ? interference->as_number(0.0, 10.0) : 0.0;
  // A file without it predates it: its engines ran memory kernels at their alone rate (1). (Its
  // interference is now also charged for the kernels' overlap with the compute op's extension.)
  if (auto v = map.optional("memory_kernel_rate_beside_compute")) model.memory_kernel_rate_beside_compute = v->as_number(0.01, 1.0);
  // Not measured by `comet calibrate` yet (comet_gpu_bench --sections fused measures it): absent, the default.
  if (auto v = map.optional("fused_block_bandwidth")) model.fused_block_Bps = v->as_quantity(Dimension::BYTES_PER_SECOND);
  if (auto v = map.optional("kernels")) read_kernels(*v, model.kernel_costs);
  if (auto v = map.optional("shapes"))
    for (const YamlValue& item : v->as_list()) {
      ShapeCosts shape = read_shape(item);
      if (model.shape(shape.hidden, shape.ffn)) item.fail("one entry per (hidden, ffn)");
      model.shapes.push_back(std::move(shape));
    }
  if (auto v = map.optional("fit_quality"))
    for (const YamlValue& item : v->as_list()) {
      const YamlMap q = item.as_map({"table", "points", "median", "max"});
      model.fit_quality.push_back({q.required("table").as_string(), static_cast<int>(q.required("points").as_int(0, 1 << 30)),
                                   q.required("median").as_number(0.0, 1e6), q.required("max").as_number(0.0, 1e6)});
    }
  return model;
}

// The `kernels` map, each entry on its line with `indent`; "" when none is set.
std::string kernels_yaml(const KernelCosts& kernels, const std::string& indent) {
  std::string text;
  for (OpKind kind : KERNEL_KINDS)
    for (Direction d : {Direction::FORWARD, Direction::BACKWARD}) {
      const auto& cost = kernels[kernel_cost_index(kind, d)];
      if (!cost) continue;
      const std::string rate = priced_by_bytes(kind) ? fmt::format("{}B/s", cost->rate) : fmt::format("{}", cost->rate);
      text += fmt::format("{}  {}: {{overhead: {}s, rate: {}}}\n", indent, kernel_key(kind, d), cost->overhead_s, rate);
    }
  return text;
}

std::string curve_yaml(const MeasuredCurve& curve) {
  std::string text = "[";
  for (std::size_t i = 0; i < curve.size(); ++i)
    text += fmt::format("{}[{}, {}]", i ? ", " : "", curve[i].first, curve[i].second);
  return text + "]";
}

}  // namespace

CostModel load_cost_model(const std::filesystem::path& path) {
  return read_cost_model(load_yaml_file(path), path.string());
}

CostModel load_cost_model_text(const std::string& text, const std::string& origin) {
  return read_cost_model(load_yaml_text(text, origin), origin);
}

std::string cost_model_yaml(const CostModel& m) {
  std::string text = "# comet cost model (calibration file); see docs/file-formats.md. Numbers in base units (s, B/s,\n"
                     "# flop/s), written to round-trip exactly.\n";
  text += fmt::format("gpu: {}\n", m.gpu_model);
  if (!m.source.provenance.empty()) {
    text += "provenance:\n";
    for (const auto& [key, value] : m.source.provenance) text += fmt::format("  {}: \"{}\"\n", key, value);
  }
  text += fmt::format("peak_flops: {}          # dense bf16 flop/s\nhbm_bandwidth: {}B/s\n", m.peak_flops, m.hbm_Bps);
  text += fmt::format("sm_count: {}\nlaunch_overhead: {}s\ngemm_efficiency:            # [M, fraction of peak]\n",
                      m.sm_count, m.launch_overhead_s);
  for (const auto& [rows, efficiency] : m.gemm_efficiency_by_m) text += fmt::format("  - [{}, {}]\n", rows, efficiency);
  text += "link_efficiency:            # fraction of link bandwidth an all-to-all reaches\n";
  for (std::size_t c = 0; c < NUM_LINK_CLASSES; ++c)
    text += fmt::format("  {}: {}\n", to_string(static_cast<LinkClass>(c)), m.link_efficiency[c]);
  text += fmt::format("comm_sm_share: {}\ncomm_slowdown_with_compute: {}\na2a_per_message: {}s\nmemory_kernel_interference: {}\n",
                      m.comm_sm_share, m.comm_slowdown_with_compute, m.a2a_per_message_s, m.memory_kernel_interference);
  text += fmt::format("memory_kernel_rate_beside_compute: {}   # of a permute/unpermute's alone rate, beside compute work\n",
                      m.memory_kernel_rate_beside_compute);
  text += fmt::format("fused_block_bandwidth: {}B/s   # one transfer block of the fused kernels (comet:B)\n", m.fused_block_Bps);
  if (const std::string k = kernels_yaml(m.kernel_costs, ""); !k.empty())
    text += "kernels:                    # every shape; seconds = overhead + amount / rate (B/s or flop/s)\n" + k;
  if (!m.shapes.empty()) text += "shapes:                     # per model shape (H, F): kernels, seconds per expert [M, s]\n";
  for (const ShapeCosts& t : m.shapes) {
    text += fmt::format("  - hidden: {}\n    ffn: {}\n", t.hidden, t.ffn);
    if (const std::string k = kernels_yaml(t.kernels, "    "); !k.empty()) text += "    kernels:\n" + k;
    for (std::size_t p = 0; p < NUM_EXPERT_PASSES; ++p)
      if (!t.seconds_by_m[p].empty())
        text += fmt::format("    {}: {}\n", to_string(static_cast<ExpertPass>(p)), curve_yaml(t.seconds_by_m[p]));
    if (!t.fused.empty()) text += "    fused_scale:              # comet:B's fused GEMM over these tables, per B: [M, scale]\n";
    for (const FusedScales& f : t.fused) {
      text += fmt::format("      - blocks: {}\n", f.blocks);
      for (std::size_t l = 0; l < NUM_FUSED_LAUNCHES; ++l)
        if (!f.by_m[l].empty()) text += fmt::format("        {}: {}\n", fused_launch_name(l), curve_yaml(f.by_m[l]));
    }
  }
  if (!m.fit_quality.empty()) text += "fit_quality:                # relative residuals of the fit per table\n";
  for (const FitQuality& q : m.fit_quality)
    text += fmt::format("  - {{table: \"{}\", points: {}, median: {:.6g}, max: {:.6g}}}\n", q.table, q.points,
                        q.median_residual, q.max_residual);
  return text;
}

CostModel cost_model_for(const std::string& gpu_model, const std::filesystem::path& calibration, const std::string& option) {
  if (!calibration.empty()) {
    CostModel model = load_cost_model(calibration);
    if (model.gpu_model != gpu_model)
      throw InputError({calibration.string(), 0, 0}, "gpu", model.gpu_model,
                       fmt::format("the scenario's GPU '{}' (a calibration of another GPU does not apply; given with {})",
                                   gpu_model, option));
    return model;
  }
  if (const auto shipped = find_builtin_calibration(gpu_model)) {
    CostModel model = load_cost_model_text(std::string(shipped->text), fmt::format("calibrations/{}.yaml", shipped->name));
    model.source.file = fmt::format("built-in calibrations/{}.yaml", shipped->name);
    return model;
  }
  return CostModel::defaults_for(gpu_model);
}

}  // namespace comet
