// Durations of compute and memory ops from the cost model, the same for every simulated engine
// (and for `dynamic`, which prices its candidates by running an engine).
#pragma once

#include "cost_model.hpp"
#include "plan.hpp"

namespace comet {

/// Seconds op `op` takes alone on its GPU (all-to-all ops: 0; engines time those).
///   expert_gemm, expert_wgrad: the sum over the op's experts of CostModel::expert_time_s at the
///                expert's M (forward; backward: data gradient; wgrad: weight gradient), times the
///                op's work share, on the op's SM share; a fused launch's (fused_gemm) times
///                CostModel::fused_scale of its launch (pass and stage) at the Plan's transfer blocks
///                and its mean rows per expert.
///   permute, unpermute: the measured kernel cost of the kind and direction by op.bytes, else
///                op.bytes at HBM bandwidth plus a launch.
///   gate, non_moe, shared_expert: the measured kernel cost by op.flops, else the datasheet:
///                non_moe and shared experts at the efficiency of M = 4096, the gate the larger of
///                its flops at its tokens' efficiency and its memory traffic.
double compute_time_s(const Plan& plan, const Op& op, const CostModel& model);

/// Rows of one M tile of COMET's fused kernels (FusedDispatchGemm::TILE_M): what a streaming
/// consumer still has to do after its producer's last rows.
inline constexpr double FUSED_TILE_ROWS = 128.0;

/// Seconds op `op` still needs after the last of its streaming producers ended (Plan::add's
/// `streaming`), the fused kernels' tail:
///   expert_gemm: its last M tile of rows, FUSED_TILE_ROWS / its rows of its time alone;
///   all_to_all:  the last M tile of output rows (FUSED_TILE_ROWS x hidden bf16) sent by the
///                plan's transfer blocks (CostModel::fused_block_Bps each);
///   others: 0.
double streaming_tail_s(const Plan& plan, const Op& op, const CostModel& model);

/// Whether `op` is an expert GEMM run as a fused launch (a `comet:B` Plan's: PlanHeader::transfer_blocks > 0).
bool fused_gemm(const Plan& plan, const Op& op);

/// Which expert pass an EXPERT_GEMM or EXPERT_WGRAD op runs.
ExpertPass expert_pass(const Op& op);

}  // namespace comet
