#include "op_costs.hpp"

#include <algorithm>

namespace comet {

double compute_time_s(const Plan& plan, const Op& op, const CostModel& model) {
  const double h = plan.header().hidden, f = plan.header().expert_ffn;
  switch (op.kind) {
    case OpKind::ALL_TO_ALL:
      return 0.0;
    case OpKind::PERMUTE:
    case OpKind::UNPERMUTE:
      return model.memory_time_s(op.bytes);
    case OpKind::GATE: {
      const double tokens = op.bytes / (h * 2.0);
      const double compute = tokens > 0 ? op.flops / (model.peak_flops * model.gemm_efficiency(tokens)) : 0.0;
      return std::max(compute, op.bytes / model.hbm_Bps) + model.launch_overhead_s;
    }
    case OpKind::NON_MOE:
    case OpKind::SHARED_EXPERT: {
      if (op.flops <= 0.0) return model.launch_overhead_s;
      // M of the block's GEMMs: the GPU's tokens, recovered from the gate that follows is not
      // available here, so use a large-M efficiency (attention blocks run on whole sequences).
      return op.flops / (model.peak_flops * model.gemm_efficiency(4096)) + model.launch_overhead_s;
    }
    case OpKind::EXPERT_GEMM:
    case OpKind::EXPERT_WGRAD: {
      double seconds = 0.0, forward_flops = 0.0;
      for (const ExpertWork& w : plan.work(op)) {
        const double m = static_cast<double>(w.tokens);
        seconds += model.gemm_time_s(m, 2 * f, h, op.compute_sm_fraction) + model.gemm_time_s(m, h, f, op.compute_sm_fraction);
        forward_flops += 2.0 * m * 3.0 * h * f;
      }
      return forward_flops > 0.0 ? seconds * (op.flops / forward_flops) : 0.0;
    }
  }
  return 0.0;
}

}  // namespace comet
