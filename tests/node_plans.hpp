// Plans on one 4-GPU node (16 experts, top-4, Zipf routing: ragged counts, some pairs small):
// what the real executor's host-side tests build their layouts and schedules from.
#pragma once

#include <string>

#include "scenario_plans.hpp"

namespace comet::testing {

inline const std::string NODE4_SCENARIO = R"(name: node-4
topology:
  name: node-4
  kind: node
  node: {gpus: 4, fabric: nvswitch, gpu_link_bandwidth: 450GB/s, nics: 0}
model: {hidden: 64, expert_ffn: 96, experts: 16, top_k: 4, layers: 2, moe_layers: 2, heads: 4, kv_heads: 4, head_dim: 16}
parallelism: {expert_parallel: 4}
workload: {tokens_per_gpu: 96, steps: 1, seed: 5, routing: {kind: zipf, alpha: 1.2}}
)";

struct NodePlans : ScenarioPlans {
  NodePlans() : ScenarioPlans(NODE4_SCENARIO, "node-4.yaml") {}
  /// The plan of one policy pair (direct all-to-all), with its chunks kept.
  BuiltPlan plan(const std::string& placement, const std::string& partition) const {
    return ScenarioPlans::plan(placement, partition, "direct", 1, 1, true);
  }
};

}  // namespace comet::testing
