#include "workload_spec.hpp"

#include <fmt/format.h>

namespace comet {
namespace {

RoutingSpec parse_routing(const YamlValue& value, const std::filesystem::path& base_dir) {
  const YamlMap map = value.as_map({"kind", "alpha", "hot_experts", "hot_share", "hot_rank", "factor",
                                    "groups", "strength", "period", "probability", "file"});
  RoutingSpec routing;
  const std::string kind = map.required("kind").as_choice(
      {"uniform", "zipf", "hot-experts", "hot-rank", "affinity", "rotating", "burst", "trace"});
  // Which parameters each kind takes; any other present is an error, not silently ignored.
  struct KindKeys {
    const char* kind;
    RoutingKind value;
    std::initializer_list<std::string_view> keys;
  };
  const KindKeys table[] = {
      {"uniform", RoutingKind::UNIFORM, {}},
      {"zipf", RoutingKind::ZIPF, {"alpha"}},
      {"hot-experts", RoutingKind::HOT_EXPERTS, {"hot_experts", "hot_share"}},
      {"hot-rank", RoutingKind::HOT_RANK, {"hot_rank", "factor"}},
      {"affinity", RoutingKind::AFFINITY, {"groups", "strength"}},
      {"rotating", RoutingKind::ROTATING, {"hot_experts", "hot_share", "period"}},
      {"burst", RoutingKind::BURST, {"probability", "factor"}},
      {"trace", RoutingKind::TRACE, {"file"}},
  };
  const KindKeys* entry = nullptr;
  for (const KindKeys& candidate : table)
    if (kind == candidate.kind) entry = &candidate;
  routing.kind = entry->value;
  for (std::string_view key : {"alpha", "hot_experts", "hot_share", "hot_rank", "factor", "groups",
                               "strength", "period", "probability", "file"}) {
    bool allowed = false;
    for (std::string_view k : entry->keys) allowed = allowed || k == key;
    if (auto v = map.optional(key); v && !allowed)
      throw InputError(v->location(), v->path(), "", fmt::format("routing kind '{}' takes no '{}'", kind, key));
  }
  if (auto v = map.optional("alpha")) routing.alpha = v->as_number(0.0, 10.0);
  if (auto v = map.optional("hot_experts")) routing.hot_experts = static_cast<int>(v->as_int(1, 1 << 20));
  if (auto v = map.optional("hot_share")) routing.hot_share = v->as_number(0.0, 1.0);
  if (auto v = map.optional("hot_rank")) routing.hot_rank = static_cast<int>(v->as_int(0, 1 << 20));
  if (auto v = map.optional("factor")) routing.factor = v->as_number(1.0, 1000.0);
  if (auto v = map.optional("groups")) routing.groups = static_cast<int>(v->as_int(1, 1 << 20));
  if (auto v = map.optional("strength")) routing.strength = v->as_number(0.0, 1.0);
  if (auto v = map.optional("period")) routing.period = static_cast<int>(v->as_int(1, 1 << 20));
  if (auto v = map.optional("probability")) routing.probability = v->as_number(0.0, 1.0);
  if (routing.kind == RoutingKind::TRACE) {
    const YamlValue file = map.required("file");
    routing.trace = base_dir / file.as_string();
    if (!is_file(routing.trace))
      file.fail(fmt::format("trace file '{}' does not exist", routing.trace.string()));
  }
  return routing;
}

}  // namespace

std::string_view to_string(RoutingKind kind) {
  switch (kind) {
    case RoutingKind::UNIFORM: return "uniform";
    case RoutingKind::ZIPF: return "zipf";
    case RoutingKind::HOT_EXPERTS: return "hot-experts";
    case RoutingKind::HOT_RANK: return "hot-rank";
    case RoutingKind::AFFINITY: return "affinity";
    case RoutingKind::ROTATING: return "rotating";
    case RoutingKind::BURST: return "burst";
    case RoutingKind::TRACE: return "trace";
  }
  return "?";
}

WorkloadSpec parse_workload(const YamlValue& value, const std::filesystem::path& base_dir) {
  const YamlMap map = value.as_map({"tokens_per_gpu", "steps", "placement_fit_steps", "seed", "sequence_length", "routing"});
  WorkloadSpec workload;
  workload.tokens_per_gpu = map.required("tokens_per_gpu").as_int(0, 1 << 24);
  if (auto v = map.optional("steps")) workload.steps = static_cast<int>(v->as_int(1, 100000));
  if (auto v = map.optional("placement_fit_steps")) workload.placement_fit_steps = static_cast<int>(v->as_int(0, 100000));
  if (auto v = map.optional("seed")) workload.seed = static_cast<std::uint64_t>(v->as_int(0, std::int64_t{1} << 53));
  if (auto v = map.optional("sequence_length")) workload.sequence_length = static_cast<int>(v->as_int(1, 1 << 22));
  if (auto v = map.optional("routing")) workload.routing = parse_routing(*v, base_dir);
  return workload;
}

}  // namespace comet
