#include "moe_model.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>

namespace comet {
namespace {

// Public figures from the models' papers and configuration files. Attention dimensions are
// used only for the non-MoE compute of a layer; DeepSeek-V3's MLA is approximated as
// 128 heads of 128.
MoeModel preset(std::string name, int hidden, int expert_ffn, int experts, int top_k,
                int shared, int shared_ffn, int layers, int moe_layers, int dense_ffn,
                int heads, int kv_heads) {
  MoeModel m;
  m.preset = std::move(name);
  m.hidden = hidden;
  m.expert_ffn = expert_ffn;
  m.experts = experts;
  m.top_k = top_k;
  m.shared_experts = shared;
  m.shared_expert_ffn = shared_ffn;
  m.layers = layers;
  m.moe_layers = moe_layers;
  m.dense_ffn = dense_ffn;
  m.heads = heads;
  m.kv_heads = kv_heads;
  m.head_dim = 128;
  return m;
}

const std::array<MoeModel, 5>& presets() {
  static const std::array<MoeModel, 5> table{
      preset("mixtral-8x7b", 4096, 14336, 8, 2, 0, 0, 32, 32, 0, 32, 8),
      preset("deepseek-v3", 7168, 2048, 256, 8, 1, 2048, 61, 58, 18432, 128, 128),
      preset("qwen2-57b-a14b", 3584, 2560, 64, 8, 1, 20480, 28, 28, 0, 28, 4),
      preset("qwen2-moe", 2048, 5632, 64, 4, 0, 0, 24, 24, 0, 16, 16),
      preset("phi-3.5-moe", 4096, 6400, 16, 2, 0, 0, 32, 32, 0, 32, 8),
  };
  return table;
}

}  // namespace

std::optional<MoeModel> find_model_preset(std::string_view name) {
  for (const MoeModel& m : presets())
    if (m.preset == name) return m;
  return std::nullopt;
}

std::vector<std::string> model_preset_names() {
  std::vector<std::string> names;
  for (const MoeModel& m : presets()) names.push_back(m.preset);
  return names;
}

MoeModel parse_moe_model(const YamlValue& value) {
  const YamlMap map = value.as_map({"preset", "hidden", "expert_ffn", "experts", "top_k",
                                    "shared_experts", "shared_expert_ffn", "layers", "moe_layers",
                                    "dense_ffn", "heads", "kv_heads", "head_dim", "dtype"});
  MoeModel model;
  const bool has_preset = map.has("preset");
  if (has_preset) {
    const YamlValue name = map.required("preset");
    const auto found = find_model_preset(name.as_string());
    if (!found) name.fail(fmt::format("unknown model preset; expected one of: {}", fmt::join(model_preset_names(), ", ")));
    model = *found;
  } else {
    model.preset = "custom";
  }
  // Without a preset the core dimensions are required; with one they override it.
  struct Field {
    const char* key;
    int* target;
    int min;
    bool core;
  };
  const Field fields[] = {
      {"hidden", &model.hidden, 1, true},           {"expert_ffn", &model.expert_ffn, 1, true},
      {"experts", &model.experts, 1, true},         {"top_k", &model.top_k, 1, true},
      {"layers", &model.layers, 1, true},           {"shared_experts", &model.shared_experts, 0, false},
      {"shared_expert_ffn", &model.shared_expert_ffn, 0, false},
      {"moe_layers", &model.moe_layers, 0, false},  {"dense_ffn", &model.dense_ffn, 0, false},
      {"heads", &model.heads, 1, false},            {"kv_heads", &model.kv_heads, 1, false},
      {"head_dim", &model.head_dim, 1, false},
  };
  for (const Field& field : fields) {
    if (auto v = map.optional(field.key)) *field.target = static_cast<int>(v->as_int(field.min, 1 << 20));
    else if (!has_preset && field.core) map.required(field.key);  // throws "missing required key"
  }
  if (!has_preset) {
    if (!map.has("moe_layers")) model.moe_layers = model.layers;
    if (!map.has("heads")) model.heads = std::max(1, model.hidden / 128);
    if (!map.has("kv_heads")) model.kv_heads = model.heads;
    if (!map.has("head_dim")) model.head_dim = 128;
  }
  if (auto dtype = map.optional("dtype")) model.dtype_bytes = dtype->as_choice({"bf16", "fp16", "fp8"}) == "fp8" ? 1 : 2;

  auto field_or_self = [&](const char* key) { return map.optional(key).value_or(map.self()); };
  if (model.top_k > model.experts)
    field_or_self("top_k").fail(fmt::format("top_k {} is larger than the expert count {}; expected top_k <= experts", model.top_k, model.experts));
  if (model.moe_layers > model.layers)
    field_or_self("moe_layers").fail(fmt::format("expected moe_layers <= layers ({})", model.layers));
  if (model.moe_layers < model.layers && model.dense_ffn == 0)
    field_or_self("dense_ffn").fail("the model has dense layers; expected dense_ffn > 0");
  if (model.shared_experts > 0 && model.shared_expert_ffn == 0)
    field_or_self("shared_expert_ffn").fail("shared experts need shared_expert_ffn > 0");
  if (model.heads % model.kv_heads != 0)
    field_or_self("kv_heads").fail(fmt::format("expected a divisor of heads ({})", model.heads));
  return model;
}

}  // namespace comet
