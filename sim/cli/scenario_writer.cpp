#include "scenario_writer.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <numeric>

#include "input_error.hpp"
#include "moe_model.hpp"

namespace comet {
namespace {

constexpr int GPUS_PER_NODE = 8;

InputError bad_option(const std::string& option, const std::string& value, const std::string& expected) {
  return InputError({"<command line>", 0, 0}, option, value, expected);
}

const char* NODE_SECTION = R"(node:                          # one DGX-H100-like server
  gpus: 8
  fabric: nvswitch               # nvswitch | pcie
  gpu_link_bandwidth: 450GB/s    # NVLink per GPU per direction
  nics: 8                        # one NIC per GPU
  nic_bandwidth: 400Gbps
  pcie_bandwidth: 64GB/s         # GPU <-> NIC
  gpu: h100-sxm                  # h100-sxm | h200
)";

// Leaves of 4 nodes (or fewer when the node count is not a multiple of 4), 4:1 at the leaf.
std::string tree_section(int nodes) {
  const int per_leaf = std::gcd(nodes, 4);
  return fmt::format(R"(kind: tree
{}tree:
  fan_out: [{}, {}]               # nodes per leaf, leaves under the root
  oversubscription: [4]          # leaf downlink / uplink capacity
)",
                     NODE_SECTION, per_leaf, nodes / per_leaf);
}

// Non-blocking: 2-tier leaf-spine up to 32 leaves, else 3-tier with pods of up to 16 leaves.
std::string fat_tree_section(int nodes) {
  const int hosts = nodes * GPUS_PER_NODE;
  const int per_leaf = GPUS_PER_NODE * std::gcd(nodes, 4);
  const int leaves = hosts / per_leaf;
  if (leaves <= 32) {
    return fmt::format(R"(kind: fat-tree
{}fat_tree:                      # 2-tier leaf-spine, non-blocking
  down: [{}, {}]                   # NICs per leaf, leaves per spine
  up: [1, {}]                     # leaves per NIC, spines per leaf
  oversubscription: [1]
)",
                       NODE_SECTION, per_leaf, leaves, per_leaf);
  }
  const int per_pod = std::gcd(leaves, 16);
  return fmt::format(R"(kind: fat-tree
{}fat_tree:                      # 3-tier, non-blocking
  down: [{}, {}, {}]              # NICs per leaf, leaves per pod, pods
  up: [1, {}, {}]                 # leaves per NIC, spines per leaf, cores per spine
  oversubscription: [1, 1]
)",
                     NODE_SECTION, per_leaf, per_pod, leaves / per_pod, per_leaf, per_pod);
}

std::string rail_section(int nodes) {
  const int per_leaf = std::gcd(nodes, 32);
  return fmt::format(R"(kind: rail-optimized
{}rail:
  nodes: {}
  nodes_per_leaf: {}             # nodes sharing one leaf per rail
  spines: {}                     # every leaf has one uplink to each spine
  oversubscription: 1
)",
                     NODE_SECTION, nodes, per_leaf, per_leaf);
}

}  // namespace

std::string write_init_scenario(const InitRequest& r) {
  if (r.gpus < GPUS_PER_NODE || r.gpus % GPUS_PER_NODE != 0 || r.gpus > 131072)
    throw bad_option("--gpus", std::to_string(r.gpus), "expected a multiple of 8 (8-GPU nodes), at most 131072");
  const auto model = find_model_preset(r.model);
  if (!model) throw bad_option("--model", r.model, fmt::format("unknown model preset; expected one of: {}",
                                                                 fmt::join(model_preset_names(), ", ")));
  if (r.experts < model->top_k)
    throw bad_option("--expert-count", std::to_string(r.experts),
                     fmt::format("expected at least the model's top-k ({})", model->top_k));
  const int nodes = r.gpus / GPUS_PER_NODE;
  std::string topology;
  if (r.cluster_type == "tree") topology = tree_section(nodes);
  else if (r.cluster_type == "fat-tree") topology = fat_tree_section(nodes);
  else if (r.cluster_type == "rail") topology = rail_section(nodes);
  else throw bad_option("--cluster-type", r.cluster_type, "expected one of: tree, fat-tree, rail");

  // Indent the topology under the scenario's `topology:` key.
  std::string inline_topology;
  std::size_t start = 0;
  while (start < topology.size()) {
    const std::size_t end = topology.find('\n', start);
    inline_topology += "  " + topology.substr(start, end - start) + "\n";
    start = end + 1;
  }
  const int expert_parallel = std::gcd(r.gpus, r.experts);
  return fmt::format(R"(# comet scenario written by: comet init --cluster-type {type} --gpus {gpus} --expert-count {experts} --model {model}
# Check it with `comet check FILE`; the schema is in docs/file-formats.md.
name: {type}-{gpus}-{model}

# The cluster: {nodes} nodes of 8 GPUs.
topology:
  name: {type}-{gpus}
{topology}
# The model: a preset; any dimension given here overrides it.
model:
  preset: {model}
  experts: {experts}

# Expert parallel group size: experts are spread over this many GPUs; the cluster holds
# gpus / expert_parallel data-parallel replicas. It must divide both GPUs and experts.
parallelism:
  expert_parallel: {ep}

# Routing: tokens each GPU routes per step (before top-k) and how they pick experts.
workload:
  tokens_per_gpu: {tokens}
  steps: 1
  placement_fit_steps: 1         # steps before the run that topology/bottleneck/replicate are fitted on
  seed: 1
  routing:
    kind: uniform                # uniform | zipf | hot-experts | hot-rank | affinity | rotating | burst | trace

# Policies to evaluate (comet compare runs their cross product).
policies:
  placement: [contiguous, topology]        # contiguous | strided | topology | bottleneck | replicate:R
  partition: [none, "fixed:4", dynamic]    # none | fixed:K | tapered:K | dynamic | fine
  a2a: [direct, hierarchical]              # direct | hierarchical
)",
                     fmt::arg("type", r.cluster_type), fmt::arg("gpus", r.gpus), fmt::arg("experts", r.experts),
                     fmt::arg("model", r.model), fmt::arg("nodes", nodes), fmt::arg("topology", inline_topology),
                     fmt::arg("ep", expert_parallel), fmt::arg("tokens", r.tokens_per_gpu));
}

}  // namespace comet
