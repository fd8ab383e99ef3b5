// Mixture-of-Experts model dimensions: built-in presets (public figures) or explicit values.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "yaml_input.hpp"

namespace comet {

struct MoeModel {
  std::string preset;          ///< preset name, or "custom"
  int hidden = 0;              ///< model (hidden) dimension H
  int expert_ffn = 0;          ///< routed expert FFN dimension F (SwiGLU: 3 matrices H x F)
  int experts = 0;             ///< routed experts E per MoE layer
  int top_k = 0;               ///< experts per token
  int shared_experts = 0;      ///< always-active experts per MoE layer
  int shared_expert_ffn = 0;   ///< FFN dimension of each shared expert
  int layers = 0;              ///< transformer layers
  int moe_layers = 0;          ///< layers whose FFN is an MoE (the rest are dense)
  int dense_ffn = 0;           ///< FFN dimension of the dense layers (0 when all are MoE)
  int heads = 0;               ///< attention query heads
  int kv_heads = 0;            ///< attention key/value heads (grouped-query attention)
  int head_dim = 0;            ///< per-head dimension
  int dtype_bytes = 2;         ///< activation bytes per element (bf16 = 2, fp8 = 1)

  /// Bytes one token-expert copy carries in an all-to-all (H x dtype).
  double bytes_per_token_copy() const { return static_cast<double>(hidden) * dtype_bytes; }
  /// Bytes one source token sends in a dispatch (top-k copies).
  double bytes_per_token_dispatch() const { return bytes_per_token_copy() * top_k; }
};

/// The built-in preset of that name, or nullopt.
std::optional<MoeModel> find_model_preset(std::string_view name);
std::vector<std::string> model_preset_names();

/// Reads a `model:` mapping: `preset: NAME` and/or explicit dimensions (explicit values
/// override the preset's). Throws InputError on unknown presets, missing dimensions
/// without a preset, or inconsistent values (top_k > experts, moe_layers > layers, ...).
MoeModel parse_moe_model(const YamlValue& value);

}  // namespace comet
