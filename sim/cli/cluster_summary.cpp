#include "cluster_summary.hpp"

#include <fmt/format.h>

#include "bisection.hpp"
#include "units.hpp"

namespace comet {
namespace {

constexpr VertexKind ALL_KINDS[] = {VertexKind::GPU, VertexKind::NVSWITCH, VertexKind::PCIE_SWITCH,
                                    VertexKind::NIC, VertexKind::LEAF, VertexKind::SPINE, VertexKind::CORE};

int count_of(const ClusterSummary& c, VertexKind kind) {
  return c.vertices_by_kind[static_cast<std::size_t>(kind)];
}

// Bytes one GPU sends in one dispatch all-to-all: every routed token-expert copy.
double dispatch_bytes_per_gpu(const Scenario& s) {
  return static_cast<double>(s.workload.tokens_per_gpu) * s.model.bytes_per_token_dispatch();
}

void append_line(std::string& out, std::string_view key, const std::string& value) {
  out += fmt::format("  {:<26} {}\n", key, value);
}

std::string policy_list(const std::vector<PolicySpec>& policies) {
  std::string text;
  for (const PolicySpec& p : policies) text += (text.empty() ? "" : ", ") + p.text();
  return text;
}

nlohmann::ordered_json policy_json(const std::vector<PolicySpec>& policies) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const PolicySpec& p : policies) list.push_back(p.text());
  return list;
}

}  // namespace

ClusterSummary summarize_cluster(const TopologySpec& spec, const Topology& topology) {
  ClusterSummary c;
  c.name = spec.name;
  c.kind = std::string(to_string(spec.kind));
  c.gpu_model = spec.node.gpu_model;
  c.gpus = topology.num_gpus();
  c.nodes = topology.num_nodes();
  c.gpus_per_node = spec.node.gpus;
  c.switches = topology.num_switches();
  for (VertexKind kind : ALL_KINDS) c.vertices_by_kind[static_cast<std::size_t>(kind)] = topology.num_vertices_of(kind);
  c.links_by_class = topology.links_by_class();
  c.bisection_Bps = bisection_bandwidth_Bps(topology);
  if (c.gpus > 1) c.farthest = topology.path_info(0, c.gpus - 1);
  return c;
}

nlohmann::ordered_json summary_json(const ClusterSummary& c, const Scenario* s) {
  nlohmann::ordered_json j;
  if (s) j["scenario"] = s->name;
  j["topology"] = c.name;
  j["topology_kind"] = c.kind;
  j["gpu_model"] = c.gpu_model;
  j["gpus"] = c.gpus;
  j["nodes"] = c.nodes;
  j["gpus_per_node"] = c.gpus_per_node;
  j["switches"] = c.switches;
  nlohmann::ordered_json by_kind;
  for (VertexKind kind : ALL_KINDS)
    if (kind != VertexKind::GPU) by_kind[std::string(to_string(kind))] = count_of(c, kind);
  j["vertices_by_kind"] = by_kind;
  nlohmann::ordered_json links;
  for (std::size_t i = 0; i < NUM_LINK_CLASSES; ++i)
    links[std::string(to_string(static_cast<LinkClass>(i)))] = c.links_by_class[i];
  j["links_by_class"] = links;
  j["bisection_bandwidth_Bps"] = c.bisection_Bps;
  j["farthest_path"] = {{"tier", std::string(to_string(c.farthest.tier))},
                        {"hops", c.farthest.hops},
                        {"network_hops", c.farthest.network_hops},
                        {"bottleneck_Bps", c.farthest.bottleneck_Bps},
                        {"latency_s", c.farthest.latency_s}};
  if (!s) return j;
  const MoeModel& m = s->model;
  j["model"] = {{"preset", m.preset},         {"hidden", m.hidden},
                {"expert_ffn", m.expert_ffn}, {"experts", m.experts},
                {"top_k", m.top_k},           {"shared_experts", m.shared_experts},
                {"shared_expert_ffn", m.shared_expert_ffn},
                {"layers", m.layers},         {"moe_layers", m.moe_layers},
                {"dense_ffn", m.dense_ffn},   {"heads", m.heads},
                {"kv_heads", m.kv_heads},     {"head_dim", m.head_dim},
                {"dtype_bytes", m.dtype_bytes}};
  j["parallelism"] = {{"expert_parallel", s->expert_parallel},
                      {"data_parallel", s->data_parallel()},
                      {"experts_per_gpu", s->experts_per_gpu()}};
  j["bytes_per_token_copy"] = m.bytes_per_token_copy();
  j["bytes_per_token_dispatch"] = m.bytes_per_token_dispatch();
  j["dispatch_bytes_per_gpu"] = dispatch_bytes_per_gpu(*s);
  j["workload"] = {{"tokens_per_gpu", s->workload.tokens_per_gpu},
                   {"steps", s->workload.steps},
                   {"seed", s->workload.seed},
                   {"routing", std::string(to_string(s->workload.routing.kind))}};
  j["policies"] = {{"placement", policy_json(s->placements)},
                   {"partition", policy_json(s->partitions)},
                   {"a2a", policy_json(s->a2a)}};
  return j;
}

std::string summary_text(const std::string& source, const ClusterSummary& c, const Scenario* s) {
  std::string out;
  out += fmt::format("# comet check {}\n", source);
  if (s) out += fmt::format("# scenario   {}\n", s->name);
  out += fmt::format("# topology   {} ({})\n", c.name, c.kind);
  if (s) out += fmt::format("# model      {}\n", s->model.preset);
  out += "cluster\n";
  append_line(out, "gpus", fmt::format("{} ({})", c.gpus, c.gpu_model));
  append_line(out, "nodes", fmt::format("{} x {} GPUs", c.nodes, c.gpus_per_node));
  append_line(out, "network switches",
              fmt::format("{} (leaf {}, spine {}, core {})", c.switches, count_of(c, VertexKind::LEAF),
                          count_of(c, VertexKind::SPINE), count_of(c, VertexKind::CORE)));
  append_line(out, "node fabrics",
              fmt::format("nvswitch {}, pcie_switch {}", count_of(c, VertexKind::NVSWITCH),
                          count_of(c, VertexKind::PCIE_SWITCH)));
  append_line(out, "nics", fmt::format("{}", count_of(c, VertexKind::NIC)));
  std::string links;
  for (std::size_t i = 0; i < NUM_LINK_CLASSES; ++i)
    links += fmt::format("{}{} {}", i ? ", " : "", to_string(static_cast<LinkClass>(i)), c.links_by_class[i]);
  append_line(out, "links by class", links);
  append_line(out, "bisection bandwidth", format_quantity(c.bisection_Bps, Dimension::BYTES_PER_SECOND));
  append_line(out, "farthest path (gpu0->last)",
              fmt::format("{} tier, {} hops ({} network), bottleneck {}, latency {}", to_string(c.farthest.tier),
                          c.farthest.hops, c.farthest.network_hops,
                          format_quantity(c.farthest.bottleneck_Bps, Dimension::BYTES_PER_SECOND),
                          format_quantity(c.farthest.latency_s, Dimension::SECONDS)));
  if (!s) return out;
  const MoeModel& m = s->model;
  out += "model\n";
  append_line(out, "dimensions", fmt::format("hidden {}, expert ffn {}, {} experts, top-{}", m.hidden,
                                              m.expert_ffn, m.experts, m.top_k));
  append_line(out, "shared experts", fmt::format("{} (ffn {})", m.shared_experts, m.shared_expert_ffn));
  append_line(out, "layers", fmt::format("{} ({} MoE)", m.layers, m.moe_layers));
  append_line(out, "attention", fmt::format("{} heads, {} kv heads, head dim {}", m.heads, m.kv_heads, m.head_dim));
  out += "parallelism\n";
  append_line(out, "expert parallel (EP)", fmt::format("{} ({} experts per GPU)", s->expert_parallel, s->experts_per_gpu()));
  append_line(out, "data parallel (DP)", fmt::format("{}", s->data_parallel()));
  out += "all-to-all\n";
  append_line(out, "bytes per token copy", format_quantity(m.bytes_per_token_copy(), Dimension::BYTES));
  append_line(out, "bytes per token (top-k)", format_quantity(m.bytes_per_token_dispatch(), Dimension::BYTES));
  append_line(out, "dispatch bytes per GPU", format_quantity(dispatch_bytes_per_gpu(*s), Dimension::BYTES));
  out += "workload\n";
  append_line(out, "tokens per GPU", fmt::format("{}", s->workload.tokens_per_gpu));
  append_line(out, "routing", fmt::format("{} (seed {}, {} steps)", to_string(s->workload.routing.kind),
                                           s->workload.seed, s->workload.steps));
  out += "policies\n";
  append_line(out, "placement", policy_list(s->placements));
  append_line(out, "partition", policy_list(s->partitions));
  append_line(out, "a2a", policy_list(s->a2a));
  return out;
}

}  // namespace comet
