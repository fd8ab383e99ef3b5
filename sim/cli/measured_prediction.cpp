#include "measured_prediction.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "atomic_file.hpp"
#include "calibration_file.hpp"
#include "command_runner.hpp"
#include "executor.hpp"
#include "input_error.hpp"
#include "plan_builder.hpp"
#include "prediction_table.hpp"
#include "topology_builders.hpp"
#include "yaml_input.hpp"

namespace comet {
namespace {

struct MeasuredFile {
  std::string path;
  nlohmann::json json;

  // The value at `key` of `object` (path `where`), or an InputError naming it.
  const nlohmann::json& at(const nlohmann::json& object, const std::string& key, const std::string& where,
                           nlohmann::json::value_t type) const {
    if (!object.is_object() || !object.contains(key))
      throw InputError({path, 0, 0}, where + key, "(missing)", "a measured JSON written by comet validate -o");
    const nlohmann::json& v = object.at(key);
    if (v.type() != type)
      throw InputError({path, 0, 0}, where + key, v.dump().substr(0, 60), fmt::format("a {}", nlohmann::json(type).type_name()));
    return v;
  }
  std::string text(const nlohmann::json& object, const std::string& key, const std::string& where = "") const {
    return at(object, key, where, nlohmann::json::value_t::string).get<std::string>();
  }
};

MeasuredFile read_measured(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError({path, 0, 0}, "", "", "a readable measured JSON file (comet validate -o)");
  MeasuredFile file{path, nlohmann::json::parse(in, nullptr, false)};
  if (file.json.is_discarded()) throw InputError({path, 0, 0}, "", "", "valid JSON (comet validate -o)");
  const std::string format = file.text(file.json, "format");
  if (format != MEASURED_FORMAT) throw InputError({path, 0, 0}, "format", format, MEASURED_FORMAT);
  return file;
}

}  // namespace

int run_measured_prediction(const std::vector<std::string>& args) {
  CLI::App app{"comet validate --measured: predict a recorded measurement and compare"};
  std::string measured, calibration, engine = "analytical";
  app.add_option("--measured", measured, "Measured JSON written by comet validate -o")->required();
  app.add_option("--calibration", calibration, "Calibration YAML the prediction uses (default: the shipped one of the GPU)");
  app.add_option("--engine", engine, "Engine that predicts")->capture_default_str();
  std::string output;
  app.add_option("-o,--output", output, "Write the predictions as JSON (the measured file's policies, each with its prediction)");
  if (!parse_forwarded(app, args, "validate --measured", "comet validate --measured FILE [--calibration FILE] [--engine E] [-o FILE]"))
    return 0;
  const MeasuredFile file = read_measured(measured);
  const std::filesystem::path base_dir = std::filesystem::path(measured).parent_path();
  const Scenario scenario =
      parse_scenario(load_yaml_text(file.text(file.json, "scenario_yaml"), measured + ":scenario_yaml"), base_dir.empty() ? "." : base_dir);
  const CostModel planning = load_cost_model_text(file.text(file.json, "planning_cost_model"), measured + ":planning_cost_model");
  const CostModel model = cost_model_for(scenario.topology.node.gpu_model, calibration);
  const Topology topology = build_topology(scenario.topology);
  const PathCosts costs(topology);
  const std::unique_ptr<Executor> executor = make_executor(engine);
  const std::string placement = file.text(file.json, "placement");
  std::vector<PolicyPrediction> rows;
  nlohmann::ordered_json predictions = nlohmann::ordered_json::array();
  const nlohmann::json& policies = file.at(file.json, "policies", "", nlohmann::json::value_t::array);
  for (std::size_t i = 0; i < policies.size(); ++i) {
    const std::string where = fmt::format("policies[{}].", i);
    const std::string partition = file.text(policies[i], "partition", where);
    PlanRequest request{&scenario, &topology, &costs, &planning, parse_policy(PolicyFamily::PLACEMENT, placement),
                        parse_policy(PolicyFamily::PARTITION, partition), parse_policy(PolicyFamily::A2A, "direct")};
    const BuiltPlan built = build_plan(request);
    const std::string recorded = file.text(policies[i], "plan_hash", where);
    const std::string rebuilt = fmt::format("{:016x}", built.plan.stable_hash());
    if (recorded != rebuilt)
      throw InputError({measured, 0, 0}, where + "plan_hash", recorded,
                       fmt::format("the Plan of {} rebuilt here ({}): the file records another Plan (scenario, seed, "
                                   "planning cost model or comet's plan code differ)",
                                   partition, rebuilt));
    const Timeline timeline =
        timeline_from_json(file.at(policies[i], "timeline", where, nlohmann::json::value_t::object), measured);
    if (timeline.ops.size() != built.plan.ops().size())
      throw InputError({measured, 0, 0}, where + "timeline.ops", std::to_string(timeline.ops.size()),
                       fmt::format("{} ops, one per op of the Plan", built.plan.ops().size()));
    rows.push_back({partition, compare_timelines(built.plan, executor->run(built.plan, topology, model), timeline)});
    nlohmann::ordered_json p;
    p["partition"] = partition;
    p["choice"] = built.partition_choices.front();
    p["layer_time_samples_s"] = policies[i].value("layer_time_samples_s", nlohmann::json::array());
    p["prediction"] = prediction_json(rows.back().comparison);
    predictions.push_back(std::move(p));
  }
  fmt::print("# comet validate --measured {}: scenario {}, {} GPU(s), measured on {} ({})\n", measured, scenario.name,
             topology.num_gpus(), file.json.value("provenance", nlohmann::json::object()).value("gpu_name", "?"),
             file.json.value("provenance", nlohmann::json::object()).value("date", "?"));
  print_prediction_table(engine, model, rows);
  if (!output.empty()) {
    nlohmann::ordered_json out;
    out["scenario"] = scenario.name;
    out["measured"] = measured;
    out["engine"] = engine;
    out["cost_model"] = model.description();
    out["policies"] = std::move(predictions);
    write_file_atomically(output, out.dump(1) + "\n");
  }
  return 0;
}

}  // namespace comet
