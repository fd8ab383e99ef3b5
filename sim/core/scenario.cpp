#include "scenario.hpp"

#include <fmt/format.h>

#include <numeric>

#include "builtin_files.hpp"
#include "topology_builders.hpp"

namespace comet {
namespace {

std::vector<PolicySpec> parse_policy_list(const std::optional<YamlValue>& value, PolicyFamily family,
                                          const char* fallback) {
  if (!value) return {parse_policy(family, fallback)};
  std::vector<PolicySpec> policies;
  std::vector<YamlValue> items = value->is_scalar() ? std::vector<YamlValue>{*value} : value->as_list();
  if (items.empty()) value->fail(fmt::format("expected at least one of: {}", policy_choices(family)));
  for (const YamlValue& item : items) {
    try {
      policies.push_back(parse_policy(family, item.as_string()));
    } catch (const std::invalid_argument& error) {
      item.fail(error.what());
    }
  }
  return policies;
}

int gpu_count(const TopologySpec& spec) {
  auto product = [](const std::vector<int>& v) {
    return std::accumulate(v.begin(), v.end(), 1L, std::multiplies<>());
  };
  switch (spec.kind) {
    case TopologyKind::NODE: return spec.node.gpus;
    case TopologyKind::TREE: return static_cast<int>(product(spec.tree.fan_out) * spec.node.gpus);
    case TopologyKind::FAT_TREE:
      return static_cast<int>(product(spec.fat_tree.down) / spec.node.nics * spec.node.gpus);
    case TopologyKind::RAIL_OPTIMIZED: return spec.rail.nodes * spec.node.gpus;
  }
  return 0;
}

}  // namespace

int Scenario::num_gpus() const { return gpu_count(topology); }

TopologySpec load_topology(const std::string& name_or_path, const std::filesystem::path& base_dir) {
  const bool looks_like_path = name_or_path.find('/') != std::string::npos ||
                               name_or_path.ends_with(".yaml") || name_or_path.ends_with(".yml");
  if (!looks_like_path) {
    if (auto builtin = find_builtin_topology(name_or_path))
      return parse_topology_spec(load_yaml_text(std::string(builtin->text), fmt::format("<built-in>/topologies/{}.yaml", name_or_path)));
  }
  const std::filesystem::path path = base_dir / name_or_path;
  if (!looks_like_path && !path_exists(path)) {
    std::string names;
    for (const BuiltinFile& file : builtin_topologies()) names += (names.empty() ? "" : ", ") + std::string(file.name);
    throw InputError({name_or_path, 0, 0}, "", "",
                     fmt::format("not a shipped topology ({}) nor an existing file", names));
  }
  const YamlValue root = load_yaml_file(path);
  if (detect_file_kind(root) != FileKind::TOPOLOGY) root.fail("expected a topology file (with 'kind:'), found a scenario");
  return parse_topology_spec(root);
}

FileKind detect_file_kind(const YamlValue& root) {
  if (!root.is_map()) root.fail("expected a YAML mapping at the top level");
  if (root.node()["topology"]) return FileKind::SCENARIO;
  if (root.node()["kind"]) return FileKind::TOPOLOGY;
  root.fail("expected a scenario (with a 'topology:' key) or a topology (with a 'kind:' key)");
}

Scenario parse_scenario(const YamlValue& value, const std::filesystem::path& base_dir) {
  const YamlMap map = value.as_map({"name", "description", "topology", "model", "parallelism", "workload", "policies"});
  Scenario scenario;
  scenario.origin = value.file();
  scenario.name = map.required("name").as_string();
  if (auto d = map.optional("description")) d->as_string();

  const YamlValue topology = map.required("topology");
  if (topology.is_map()) {
    scenario.topology = parse_topology_spec(topology);
  } else {
    try {
      scenario.topology = load_topology(topology.as_string(), base_dir);
    } catch (const InputError& error) {
      // Say which scenario key pointed at the broken topology.
      if (error.location().line > 0) throw;
      topology.fail(error.what());
    }
  }
  scenario.model = parse_moe_model(map.required("model"));

  const int gpus = scenario.num_gpus();
  const YamlMap parallelism = map.required("parallelism").as_map({"expert_parallel"});
  const YamlValue ep = parallelism.required("expert_parallel");
  scenario.expert_parallel = static_cast<int>(ep.as_int(1, 1 << 20));
  if (scenario.expert_parallel > gpus || gpus % scenario.expert_parallel != 0)
    ep.fail(fmt::format("expected a divisor of the cluster's {} GPUs", gpus));
  if (scenario.model.experts % scenario.expert_parallel != 0)
    ep.fail(fmt::format("the {} experts do not divide over {} GPUs; expected a divisor of the expert count",
                        scenario.model.experts, scenario.expert_parallel));

  scenario.workload = parse_workload(map.required("workload"), base_dir);
  if (scenario.workload.routing.kind == RoutingKind::HOT_RANK && scenario.workload.routing.hot_rank >= gpus)
    map.required("workload").fail(fmt::format("routing.hot_rank {} is not a GPU; expected < {}",
                                              scenario.workload.routing.hot_rank, gpus));
  if (scenario.workload.routing.hot_experts > scenario.model.experts)
    map.required("workload").fail(fmt::format("routing.hot_experts exceeds the {} experts", scenario.model.experts));

  const RoutingSpec& routing = scenario.workload.routing;
  if (routing.kind == RoutingKind::AFFINITY &&
      (routing.groups > scenario.expert_parallel || routing.groups > scenario.model.experts))
    map.required("workload").fail(fmt::format("routing.groups {} exceeds the expert-parallel group ({}) or the experts ({})",
                                              routing.groups, scenario.expert_parallel, scenario.model.experts));
  if (auto policies = map.optional("policies")) {
    const YamlMap lists = policies->as_map({"placement", "partition", "a2a"});
    scenario.placements = parse_policy_list(lists.optional("placement"), PolicyFamily::PLACEMENT, "contiguous");
    for (std::size_t i = 0; i < scenario.placements.size(); ++i) {
      const PolicySpec& p = scenario.placements[i];
      const int slots = std::min(scenario.expert_parallel, scenario.model.experts);
      if (p.name == "replicate" && (p.parameter > slots || scenario.expert_parallel < 2))
        lists.required("placement").as_list()[i].fail(
            fmt::format("replicate:{} needs {} extra slots; the expert-parallel group of {} GPUs and {} experts allow at most {}",
                        p.parameter, p.parameter, scenario.expert_parallel, scenario.model.experts,
                        scenario.expert_parallel < 2 ? 0 : slots));
    }
    scenario.partitions = parse_policy_list(lists.optional("partition"), PolicyFamily::PARTITION, "none");
    scenario.a2a = parse_policy_list(lists.optional("a2a"), PolicyFamily::A2A, "direct");
  } else {
    scenario.placements = {parse_policy(PolicyFamily::PLACEMENT, "contiguous")};
    scenario.partitions = {parse_policy(PolicyFamily::PARTITION, "none")};
    scenario.a2a = {parse_policy(PolicyFamily::A2A, "direct")};
  }
  return scenario;
}

Scenario load_scenario_file(const std::filesystem::path& path) {
  const YamlValue root = load_yaml_file(path);
  if (detect_file_kind(root) != FileKind::SCENARIO) root.fail("expected a scenario file (with 'topology:'), found a topology");
  return parse_scenario(root, path.parent_path());
}

Scenario default_scenario() {
  const auto builtin = find_builtin_scenario(DEFAULT_SCENARIO);
  if (!builtin) throw std::logic_error("the default scenario is not compiled in");
  return parse_scenario(load_yaml_text(std::string(builtin->text), "<built-in>/scenarios/default.yaml"), ".");
}

}  // namespace comet
