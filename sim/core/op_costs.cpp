#include "op_costs.hpp"

#include <algorithm>

namespace comet {

ExpertPass expert_pass(const Op& op) {
  if (op.kind == OpKind::EXPERT_WGRAD) return ExpertPass::WEIGHT_GRADIENT;
  return op.tags.direction == Direction::FORWARD ? ExpertPass::FORWARD : ExpertPass::DATA_GRADIENT;
}

bool fused_gemm(const Plan& plan, const Op& op) {
  return op.kind == OpKind::EXPERT_GEMM && plan.header().transfer_blocks > 0;
}

double sm_share(const Op& op) { return std::clamp(op.compute_sm_fraction, 0.01, 1.0); }

double cublas_expert_sm_fraction(const Plan& plan) {
  double fraction = 1.0;
  for (const Op& op : plan.ops())
    if ((op.kind == OpKind::EXPERT_GEMM || op.kind == OpKind::EXPERT_WGRAD) && !fused_gemm(plan, op))
      fraction = std::min(fraction, op.compute_sm_fraction);
  return fraction;
}

double compute_time_s(const Plan& plan, const Op& op, const CostModel& model) {
  if (op.kind == OpKind::ALL_TO_ALL) return 0.0;
  if (op.kind == OpKind::EXPERT_GEMM || op.kind == OpKind::EXPERT_WGRAD) {
    const ExpertPass pass = expert_pass(op);
    double seconds = 0.0, rows = 0.0;
    for (const ExpertWork& w : plan.work(op)) {
      seconds += model.expert_time_s(pass, static_cast<double>(w.tokens), plan.header().hidden, plan.header().expert_ffn);
      rows += static_cast<double>(w.tokens);
    }
    if (fused_gemm(plan, op) && op.num_work > 0)
      seconds *= model.fused_scale(plan.header().transfer_blocks, fused_launch(pass, op.tags.stage), rows / op.num_work,
                                   plan.header().hidden, plan.header().expert_ffn);
    seconds *= op.work_share;
    const double share = sm_share(op);
    // The copy side's transfer blocks join its GEMM once their rows are in: its SMs are short only
    // while they copy (or all along, when the copies outlast the GEMM on the other SMs).
    if (fused_gemm(plan, op) && op.tags.stage == 0)
      return std::min(seconds / share, seconds + fused_copy_time_s(plan, op, model) * (1.0 - share));
    return seconds / share;
  }
  const bool by_bytes = op.kind == OpKind::PERMUTE || op.kind == OpKind::UNPERMUTE;
  const double amount = by_bytes ? op.bytes : op.flops;
  if (amount <= 0.0) return by_bytes ? 0.0 : model.launch_overhead_s;
  if (const auto& measured = model.kernel_cost(op.kind, op.tags.direction, plan.header().hidden, plan.header().expert_ffn))
    return measured->time_s(amount);
  if (by_bytes) return model.memory_time_s(op.bytes);
  if (op.kind == OpKind::GATE) {
    const double tokens = op.bytes / (plan.header().hidden * 2.0);
    const double compute = tokens > 0 ? op.flops / (model.peak_flops * model.gemm_efficiency(tokens)) : 0.0;
    return std::max(compute, op.bytes / model.hbm_Bps) + model.launch_overhead_s;
  }
  // NON_MOE, SHARED_EXPERT: the GPU's tokens are not in the op; attention blocks and shared
  // experts run on whole sequences, so a large-M efficiency.
  return op.flops / (model.peak_flops * model.gemm_efficiency(4096)) + model.launch_overhead_s;
}

double fused_gemm_columns(const Plan& plan, const Op& op) {
  const PlanHeader& h = plan.header();
  if (op.tags.stage == 1) return h.hidden;  // forward down, data gradient of gate + up: back to hidden
  return expert_pass(op) == ExpertPass::FORWARD ? 2.0 * h.expert_ffn : h.expert_ffn;
}

double fused_copy_time_s(const Plan& plan, const Op& op, const CostModel& model) {
  const int blocks = plan.header().transfer_blocks;
  if (!fused_gemm(plan, op) || op.tags.stage != 0 || blocks <= 0 || model.fused_block_Bps <= 0.0) return 0.0;
  return plan.streamed_in_bytes(op.id) / (blocks * model.fused_block_Bps);
}

FusedTileWaves fused_tile_waves(const Plan& plan, const Op& op, const CostModel& model) {
  FusedTileWaves w;
  w.columns = fused_gemm_columns(plan, op);
  w.n_tiles = std::ceil(w.columns / FUSED_TILE_COLS);
  for (const ExpertWork& work : plan.work(op)) w.tiles += std::ceil(static_cast<double>(work.tokens) / FUSED_TILE_ROWS) * w.n_tiles;
  w.at_once = std::max(1.0, std::round(model.sm_count * std::clamp(op.compute_sm_fraction, 0.0, 1.0)));
  w.waves = w.tiles > 0.0 ? std::ceil(w.tiles / w.at_once) : 0.0;
  w.last_wave_tiles = w.tiles > 0.0 ? w.tiles - (w.waves - 1.0) * w.at_once : 0.0;
  return w;
}

double streaming_tail_s(const Plan& plan, const Op& op, const CostModel& model) {
  if (op.kind == OpKind::EXPERT_GEMM) {
    // The last rows' M tile: its N tiles, computed side by side, a tile's time per round of them.
    const FusedTileWaves w = fused_tile_waves(plan, op, model);
    if (w.waves <= 0.0) return 0.0;
    return compute_time_s(plan, op, model) / w.waves * std::ceil(std::min(w.n_tiles, w.tiles) / w.at_once);
  }
  const int blocks = plan.header().transfer_blocks;
  if (op.kind != OpKind::ALL_TO_ALL || blocks <= 0) return 0.0;
  // The GEMM's last wave of tiles ends together; their rows are sent after it.
  constexpr double BF16_BYTES = 2.0;  // the fused kernels move bf16 rows
  double bytes = 0.0;
  for (std::int32_t producer : plan.streaming_deps(op.id)) {
    const Op& gemm = plan.ops()[producer];
    if (gemm.kind != OpKind::EXPERT_GEMM) continue;
    const FusedTileWaves w = fused_tile_waves(plan, gemm, model);
    if (w.tiles > 0.0) bytes = std::max(bytes, w.last_wave_tiles * FUSED_TILE_ROWS * (w.columns / w.n_tiles) * BF16_BYTES);
  }
  return bytes / (blocks * model.fused_block_Bps);
}

}  // namespace comet
