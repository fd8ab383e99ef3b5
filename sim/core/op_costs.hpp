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
///                and its mean rows per expert. A fused stage-0 launch (the copy side: its transfer
///                blocks pull its rows in, then join the GEMM: kernels/fused_launch.cuh) lacks its
///                transfer blocks' SMs only while they copy: with T that time on all SMs and share s,
///                min(T / s, T + fused_copy_time_s x (1 - s)).
///   permute, unpermute: the measured kernel cost of the kind and direction by op.bytes, else
///                op.bytes at HBM bandwidth plus a launch.
///   gate, non_moe, shared_expert: the measured kernel cost by op.flops, else the datasheet:
///                non_moe and shared experts at the efficiency of M = 4096, the gate the larger of
///                its flops at its tokens' efficiency and its memory traffic.
double compute_time_s(const Plan& plan, const Op& op, const CostModel& model);

/// The output tile of COMET's fused kernels (FusedDispatchGemm / FusedCombineGemm TILE_M x TILE_N).
inline constexpr double FUSED_TILE_ROWS = 128.0, FUSED_TILE_COLS = 256.0;

/// Output columns of fused expert GEMM `op` (its projection: a pass's stage 0 or 1): forward gate
/// + up 2 x ffn, forward down hidden; data gradient of down ffn, of gate + up hidden.
double fused_gemm_columns(const Plan& plan, const Op& op);

/// How fused expert GEMM `op`'s output tiles fill its SMs: each GEMM block computes one tile at a
/// time, so its tiles run in waves of `at_once`, each taking a tile's time, its time / waves.
struct FusedTileWaves {
  double columns = 0, n_tiles = 0;  ///< output columns, and tiles across them
  double tiles = 0;                 ///< sum over its experts of ceil(rows / FUSED_TILE_ROWS) x n_tiles
  double at_once = 1;               ///< tiles computed at once: its SMs (CostModel::sm_count x its SM share)
  double waves = 0;                 ///< ceil(tiles / at_once)
  double last_wave_tiles = 0;       ///< tiles in the last wave
};
FusedTileWaves fused_tile_waves(const Plan& plan, const Op& op, const CostModel& model);

/// Seconds op `op` still needs after the last of its streaming producers ended (Plan::add's
/// `streaming`), the fused kernels' tail:
///   expert_gemm: the last rows' M tile, its n_tiles tiles side by side: ceil(min(n_tiles, tiles)
///                / at_once) tile times, a tile time being its time alone / its waves
///                (fused_tile_waves);
///   all_to_all:  the rows of its producing GEMM's last wave of tiles, which end together
///                (last_wave_tiles x FUSED_TILE_ROWS x columns / n_tiles bf16; the largest over its
///                producers), sent by the plan's transfer blocks (CostModel::fused_block_Bps each);
///   others: 0.
/// Not modelled: the all-to-all's head (no row can be sent before the GEMM's first wave ends).
double streaming_tail_s(const Plan& plan, const Op& op, const CostModel& model);

/// Seconds the transfer blocks of fused stage-0 launch `op` take to copy its rows in: the bytes its
/// streaming producers (all-to-alls) bring to its GPU from other GPUs (Plan::streamed_in_bytes), over the Plan's transfer
/// blocks at CostModel::fused_block_Bps each. 0 for any other op. The links' own limit is not in it
/// (no topology here): a link slower than the blocks keeps the SMs short longer than priced.
double fused_copy_time_s(const Plan& plan, const Op& op, const CostModel& model);

/// Whether `op` is an expert GEMM run as a fused launch (a `comet:B` Plan's: PlanHeader::transfer_blocks > 0).
bool fused_gemm(const Plan& plan, const Op& op);

/// The share of its GPU's SMs expert op `op` is priced on: its compute_sm_fraction, kept within
/// [0.01, 1] (compute_time_s divides a non-fused GEMM's time by it).
double sm_share(const Op& op);

/// The SM share a real run gives Plan `plan`'s cuBLAS expert GEMMs (cublasSetSmCountTarget): the
/// smallest compute_sm_fraction of its expert GEMM and weight-gradient ops that are not fused
/// launches (a fused launch splits its own SMs between its roles); 1 when it has none.
double cublas_expert_sm_fraction(const Plan& plan);

/// Which expert pass an EXPERT_GEMM or EXPERT_WGRAD op runs.
ExpertPass expert_pass(const Op& op);

}  // namespace comet
