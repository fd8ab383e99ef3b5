#include "calibration_record.hpp"

#include <fmt/format.h>

#include <fstream>

#include "calibration_file.hpp"
#include "input_error.hpp"
#include "path_costs.hpp"
#include "topology_builders.hpp"
#include "yaml_input.hpp"

namespace comet {

Scenario calibration_scenario(Scenario s, std::int64_t tokens) {
  s.workload.tokens_per_gpu = tokens;
  s.workload.steps = 1;
  s.workload.routing = RoutingSpec{};  // uniform: every expert of an op near the mean M
  s.name += fmt::format("-calibration-{}", tokens);
  return s;
}

std::string chunked_partition(int chunks) { return chunks == 1 ? "none" : fmt::format("fixed:{}", chunks); }

BuiltPlan calibration_plan(const Scenario& scenario, const Topology& topology, const PathCosts& costs, const CostModel& model,
                           const std::string& partition) {
  PlanRequest request{&scenario, &topology, &costs, &model, parse_policy(PolicyFamily::PLACEMENT, "contiguous"),
                      parse_policy(PolicyFamily::PARTITION, partition), parse_policy(PolicyFamily::A2A, "direct")};
  request.keep_chunks = true;
  return build_plan(request);
}

nlohmann::ordered_json calibration_runs_json(const std::vector<RecordedRun>& runs,
                                             const std::vector<std::pair<std::string, std::string>>& provenance) {
  nlohmann::ordered_json out;
  out["format"] = CALIBRATION_RUNS_FORMAT;
  nlohmann::ordered_json p = nlohmann::ordered_json::object();
  for (const auto& [key, value] : provenance) p[key] = value;
  out["provenance"] = p;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const RecordedRun& r : runs) {
    nlohmann::ordered_json j;
    j["scenario_yaml"] = r.scenario_yaml;
    j["origin"] = r.origin;
    j["tokens_per_gpu"] = r.tokens;
    j["partition"] = r.partition;
    j["plan_hash"] = fmt::format("{:016x}", r.plan_hash);
    j["timeline"] = timeline_to_json(r.timeline);
    list.push_back(std::move(j));
  }
  out["runs"] = std::move(list);
  return out;
}

CalibrationFit fit_recorded_runs(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError({path, 0, 0}, "", "", "a readable calibration-runs JSON (comet calibrate --runs)");
  const nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || doc.value("format", "") != CALIBRATION_RUNS_FORMAT || !doc.contains("runs") ||
      !doc["runs"].is_array() || doc["runs"].empty())
    throw InputError({path, 0, 0}, "format", doc.is_object() ? doc.value("format", "(missing)") : "(not a JSON object)",
                     CALIBRATION_RUNS_FORMAT + " with a non-empty `runs` list");
  std::vector<std::unique_ptr<CalibrationLoad>> loads;
  std::vector<std::unique_ptr<BuiltPlan>> plans;
  std::vector<Timeline> timelines;
  const nlohmann::json& runs = doc["runs"];
  timelines.reserve(runs.size());
  std::string gpu_model;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const nlohmann::json& r = runs[i];
    const std::string where = fmt::format("runs[{}]", i);
    try {
      const Scenario base = parse_scenario(load_yaml_text(r.at("scenario_yaml").get<std::string>(), r.at("origin").get<std::string>()), ".");
      loads.push_back(std::make_unique<CalibrationLoad>(calibration_scenario(base, r.at("tokens_per_gpu").get<std::int64_t>())));
      const CalibrationLoad& l = *loads.back();
      gpu_model = l.scenario.topology.node.gpu_model;
      // The Plans depend on the model only through its SM count (comet:B's SM split): the GPU's.
      const CostModel planning = CostModel::defaults_for(gpu_model);
      // Records before the fused runs name their chunk count instead of their partition.
      const std::string partition =
          r.contains("partition") ? r.at("partition").get<std::string>() : chunked_partition(r.at("chunks").get<int>());
      plans.push_back(std::make_unique<BuiltPlan>(calibration_plan(l.scenario, l.topology, l.costs, planning, partition)));
      const std::string rebuilt = fmt::format("{:016x}", plans.back()->plan.stable_hash());
      if (r.at("plan_hash").get<std::string>() != rebuilt)
        throw InputError({path, 0, 0}, where + ".plan_hash", r.at("plan_hash").get<std::string>(),
                         fmt::format("the Plan rebuilt here ({}): the record comes from other code or another scenario", rebuilt));
      timelines.push_back(timeline_from_json(r.at("timeline"), path));
    } catch (const nlohmann::json::exception& error) {
      throw InputError({path, 0, 0}, where, "", fmt::format("a recorded calibration run ({})", error.what()));
    }
  }
  std::vector<MeasuredRun> measured;
  double gpu_link_Bps = 0.0;
  for (std::size_t i = 0; i < plans.size(); ++i) {
    measured.push_back({&plans[i]->plan, &timelines[i]});
    if (loads[i]->topology.num_gpus() > 1) gpu_link_Bps = loads[i]->scenario.topology.node.gpu_link_Bps;
  }
  CalibrationFit fit = fit_cost_model(measured, CostModel::defaults_for(gpu_model), gpu_link_Bps);
  if (doc.contains("provenance") && doc["provenance"].is_object())
    for (std::string_view key : PROVENANCE_KEYS)
      if (const auto it = doc["provenance"].find(std::string(key)); it != doc["provenance"].end() && it->is_string())
        fit.model.source.provenance.emplace_back(std::string(key), it->get<std::string>());
  return fit;
}

}  // namespace comet
