#include "sweep_command.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <map>
#include <optional>

#include "atomic_file.hpp"
#include "child_pool.hpp"
#include "executor.hpp"
#include "input_error.hpp"
#include "output_directory.hpp"
#include "results_csv.hpp"
#include "simulation.hpp"
#include "stop_signals.hpp"
#include "sweep_points.hpp"
#include "sweep_progress.hpp"
#include "sweep_report.hpp"
#include "topology_builders.hpp"

namespace comet {
namespace {

struct Point {
  std::vector<ScenarioSetting> settings;
  Scenario scenario;
  PolicyTriple policies;
};

struct SweepRun {
  std::string engine, calibration;
  int layers = 1, steps = 1;
};

// In the child: the point's `comet simulate --json` object, with the baseline simulated too.
// Input errors come back as {"input_error": message}; anything else fails the child.
std::string simulate_point(const Point& point, const SweepRun& run) {
  try {
    const Scenario& scenario = point.scenario;
    const Topology topology = build_topology(scenario.topology);
    const PathCosts costs(topology);
    const CostModel cost_model = run.calibration.empty() ? CostModel::defaults_for(scenario.topology.node.gpu_model)
                                                         : load_cost_model(run.calibration);
    const SimulationSetup setup{&scenario, &topology, &costs, &cost_model, run.engine, run.layers, run.steps};
    const SimulationResult result = simulate(setup, point.policies);
    const PolicyTriple baseline = baseline_policies();
    const bool is_baseline = point.policies.placement.text() == baseline.placement.text() &&
                             point.policies.partition.text() == baseline.partition.text() &&
                             point.policies.a2a.text() == baseline.a2a.text();
    const double baseline_time = is_baseline ? result.metrics.layer_time_s : simulate(setup, baseline).metrics.layer_time_s;
    return result_json(setup, result, baseline_time).dump();
  } catch (const InputError& error) {
    return nlohmann::json{{"input_error", error.what()}}.dump();
  }
}

// "point" and "set" first, then the `comet simulate --json` keys.
Result point_row(int index, const Point& point, const nlohmann::ordered_json& simulated) {
  Result row{{"point", index}};
  nlohmann::ordered_json set = nlohmann::ordered_json::object();
  for (const ScenarioSetting& s : point.settings) set[s.key] = s.value;
  row["set"] = std::move(set);
  for (const auto& [key, value] : simulated.items()) row[key] = value;
  return row;
}

nlohmann::ordered_json results_document(const SweepReport& report, const SweepRun& run) {
  nlohmann::ordered_json values = nlohmann::ordered_json::object();
  for (std::size_t k = 0; k < report.keys.size(); ++k) values[report.keys[k]] = report.values[k];
  return {{"command", "sweep"},
          {"scenario", report.scenario},
          {"engine", run.engine},
          {"layers", run.layers},
          {"steps", run.steps},
          {"keys", report.keys},
          {"values", std::move(values)},
          {"points_total", report.total_points},
          {"points_finished", report.results.size()},
          {"complete", static_cast<int>(report.results.size()) == report.total_points},
          {"results", report.results}};
}

void write_reports(const std::filesystem::path& out, const SweepReport& report, const SweepRun& run) {
  write_file_atomically(out / "results.json", results_document(report, run).dump(2) + "\n");
  write_file_atomically(out / "results.csv", results_csv(report.results));
  write_file_atomically(out / "report.html", sweep_html(report));
}

}  // namespace

void SweepCommand::add_to(CLI::App& app) {
  app_ = app.add_subcommand("sweep", "Simulate one policy triple over scenario values (--set KEY=V1,V2,...; the cross "
                                     "product of all --set options), in parallel processes");
  app_->add_option("scenario", file_, "Scenario file (default: the built-in 1024-GPU scenario)");
  app_->add_option("--set", sets_, "KEY=V1,V2,...: a dotted scenario key and its values, e.g. "
                                   "workload.tokens_per_gpu=1024,2048 (repeatable)")
      ->expected(1)
      ->allow_extra_args(false)  // `--set k=v scenario.yaml`: the file is the positional, not a value
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app_->add_option("-j,--jobs", jobs_, "Points simulated at once, each in its own process")
      ->capture_default_str()->check(CLI::Range(1, 256));
  app_->add_option("--engine", engine_,
                   fmt::format("Engine: {} (default: {})", fmt::join(available_engines(), " | "), available_engines().front()));
  policies_.add_to(*app_);
  app_->add_option("--layers", layers_, "MoE layers to simulate")->capture_default_str()->check(CLI::PositiveNumber);
  app_->add_option("--steps", steps_, "Training steps to simulate")->capture_default_str()->check(CLI::PositiveNumber);
  app_->add_option("--calibration", calibration_, "Cost-model YAML file (default: built-in H100/H200 figures)");
  app_->add_option("-o,--output", output_, "Directory for results.json, results.csv and report.html (created if missing; "
                                           "rewritten after every finished point)");
  app_->add_flag("--json", json_, "Print results.json to stdout instead of the table");
}

int SweepCommand::run() const {
  const std::vector<SweepAxis> axes = parse_sweep_axes(sets_);
  std::vector<Point> points;
  for (std::vector<ScenarioSetting>& settings : sweep_points(axes)) {
    // Every point is parsed and checked before anything runs: a bad value fails at once.
    Scenario scenario = load_scenario_with_settings(file_, settings);
    const PolicyTriple policies = policies_.resolve(scenario);
    points.push_back({std::move(settings), std::move(scenario), policies});
  }
  const SweepRun run{engine_.empty() ? available_engines().front() : engine_, calibration_, layers_, steps_};
  make_executor(run.engine);
  if (!calibration_.empty()) load_cost_model(calibration_);
  std::optional<std::filesystem::path> out;
  if (!output_.empty()) out = prepare_output_directory(output_);

  SweepReport report;
  report.scenario = points.front().scenario.name;
  for (const SweepAxis& axis : axes) {
    report.keys.push_back(axis.key);
    report.values.push_back(axis.values);
  }
  report.total_points = static_cast<int>(points.size());
  report.parameters = {
      fmt::format("scenario {} ({})", report.scenario, file_.empty() ? "built-in default" : file_),
      fmt::format("engine {}, layers {}, steps {}, jobs {}, cost model {}", run.engine, layers_, steps_, jobs_,
                  calibration_.empty() ? "built-in defaults" : calibration_),
      fmt::format("policies {} / {} / {} (unless --set changes them); speedup against contiguous / none / direct",
                  points.front().policies.placement.text(), points.front().policies.partition.text(),
                  points.front().policies.a2a.text())};
  for (const SweepAxis& axis : axes) report.parameters.push_back(fmt::format("--set {}={}", axis.key, fmt::join(axis.values, ",")));
  if (out) write_reports(*out, report, run);  // an empty report at once: the files always exist

  std::map<int, Result> finished;
  std::string failure;
  int failure_code = 0;
  SweepProgress progress(report.total_points, ::isatty(2) != 0);
  const StopSignals stop_signals;
  ChildPoolTasks tasks;
  tasks.num_items = report.total_points;
  tasks.jobs = jobs_;
  tasks.work = [&](int i) { return simulate_point(points[i], run); };
  tasks.on_started = [&](int) { progress.started(); };
  tasks.should_stop = [] { return StopSignals::requested(); };
  tasks.on_finished = [&](int i, const ChildOutcome& outcome) {
    const std::string what = describe_settings(points[i].settings);
    if (outcome.signal != 0 || outcome.failed) {
      failure = fmt::format("point {} ({}) {}", i, what,
                            outcome.signal ? fmt::format("was killed by signal {} ({})", outcome.signal, strsignal(outcome.signal))
                                           : "failed: " + outcome.output);
      failure_code = 3;
      return false;
    }
    const auto simulated = nlohmann::ordered_json::parse(outcome.output);
    if (simulated.contains("input_error")) {
      failure = fmt::format("point {} ({}): {}", i, what, simulated["input_error"].get<std::string>());
      failure_code = EXIT_BAD_INPUT;
      return false;
    }
    finished[i] = point_row(i, points[i], simulated);
    report.results.clear();
    for (const auto& [index, row] : finished) report.results.push_back(row);
    if (out) write_reports(*out, report, run);
    progress.finished(i, what, fmt::format("layer time {:.3f} ms", simulated["layer_time_s"].get<double>() * 1e3));
    return true;
  };
  const bool complete = run_child_pool(tasks);
  progress.close();

  if (json_) {
    fmt::print("{}\n", results_document(report, run).dump(2));
  } else {
    fmt::print("# comet sweep {}\n", file_.empty() ? "<built-in default scenario>" : file_);
    for (const std::string& line : report.parameters) fmt::print("# {}\n", line);
    fmt::print("# {} of {} points; compute and exposed comm: the critical GPU's, per layer\n", report.results.size(),
               report.total_points);
    fmt::print("{}", format_text_table(sweep_table(report)));
    if (out) fmt::print("reports in {}: results.json, results.csv, report.html\n", out->string());
  }
  if (!failure.empty()) {
    fmt::print(stderr, "comet: {}: {}\n", failure_code == EXIT_BAD_INPUT ? "error" : "internal error", failure);
    return failure_code;
  }
  if (!complete) {
    const int signal = StopSignals::signal_number();
    fmt::print(stderr, "comet sweep: stopped by {} after {} of {} points; the finished points are kept{}\n",
               signal ? fmt::format("SIG{}", sigabbrev_np(signal)) : "a signal", report.results.size(), report.total_points,
               out ? " in " + out->string() : "");
    return 128 + (signal ? signal : SIGINT);
  }
  return 0;
}

}  // namespace comet
