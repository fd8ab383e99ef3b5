// Durations of compute and memory ops from the cost model, the same for every simulated engine.
#pragma once

#include "cost_model.hpp"
#include "plan.hpp"

namespace comet {

/// Seconds op `op` takes alone on its GPU (all-to-all ops: 0; engines time those).
///   expert_gemm: per local expert, gate+up (M x 2F x H) and down (M x H x F) GEMMs at the
///                expert's M, on the op's SM share; backward: dgrad + wgrad = 2x (op.flops says).
///   non_moe:     its flops at the efficiency of a GEMM with M = the GPU's tokens.
///   gate:        the larger of its flops and its memory traffic.
///   permute, unpermute: memory traffic at HBM bandwidth.
double compute_time_s(const Plan& plan, const Op& op, const CostModel& model);

}  // namespace comet
