#include "calibration_file.hpp"
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
#include "distributed_points.hpp"
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
  EngineOptions options;
  std::string engine;  // resolved
};

// In the child: the point's `comet simulate --json` object, with the baseline simulated too.
// Input errors come back as {"input_error": message}; anything else fails the child.
std::string simulate_point(const Point& point, const SweepRun& run) {
  try {
    const Scenario& scenario = point.scenario;
    const Topology topology = build_topology(scenario.topology);
    const PathCosts costs(topology);
    const CostModel cost_model = run.options.cost_model(scenario);
    const SimulationSetup setup{&scenario, &topology, &costs, &cost_model, run.engine, run.options.layers, run.options.steps};
    const ResultWithBaseline run_with_baseline = simulate_with_baseline(setup, point.policies);
    return result_json(setup, run_with_baseline.result, run_with_baseline.baseline_layer_time_s).dump();
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
          {"layers", run.options.layers},
          {"steps", run.options.steps},
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
  app_->add_option("scenario", file_, "Scenario file, or a shipped scenario's name (default: the built-in 1024-GPU scenario)");
  app_->add_option("--set", sets_, "KEY=V1,V2,...: a dotted scenario key and its values, e.g. "
                                   "workload.tokens_per_gpu=1024,2048 (repeatable)")
      ->expected(1)
      ->allow_extra_args(false)  // `--set k=v scenario.yaml`: the file is the positional, not a value
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app_->add_option("-j,--jobs", jobs_, "Points simulated at once, each in its own process")
      ->capture_default_str()->check(CLI::Range(1, 256));
  engine_.add_to(*app_);
  policies_.add_to(*app_);
  app_->add_option("-o,--output", output_, "Directory for results.json, results.csv and report.html (created if missing; "
                                           "rewritten after every finished point)");
  app_->add_flag("--json", json_, "Print results.json to stdout instead of the table");
}

namespace {

// Every point is parsed and checked before anything runs: a bad value fails at once.
std::vector<Point> load_points(const std::string& file, const std::vector<SweepAxis>& axes, const PolicyOptions& options) {
  std::vector<Point> points;
  for (std::vector<ScenarioSetting>& settings : sweep_points(axes)) {
    Scenario scenario = load_scenario_with_settings(file, settings);
    const PolicyTriple policies = options.resolve(scenario);
    points.push_back({std::move(settings), std::move(scenario), policies});
  }
  return points;
}

SweepReport empty_report(const std::vector<Point>& points, const std::vector<SweepAxis>& axes, const SweepRun& run,
                         const std::string& file, int jobs) {
  SweepReport report;
  report.scenario = points.front().scenario.name;
  for (const SweepAxis& axis : axes) {
    report.keys.push_back(axis.key);
    report.values.push_back(axis.values);
  }
  report.total_points = static_cast<int>(points.size());
  const PolicyTriple& policies = points.front().policies;
  report.parameters = {
      fmt::format("scenario {} ({})", report.scenario, file.empty() ? "built-in default" : file),
      fmt::format("engine {}, layers {}, steps {}, jobs {}, cost model {}", run.engine, run.options.layers, run.options.steps, jobs,
                  run.options.cost_model(points.front().scenario).description()),
      fmt::format("policies {} / {} / {} (unless --set changes them); speedup against contiguous / none / direct",
                  policies.placement.text(), policies.partition.text(), policies.a2a.text())};
  for (const SweepAxis& axis : axes)
    report.parameters.push_back(fmt::format("--set {}={}", axis.key, fmt::join(axis.values, ",")));
  return report;
}

void print_table(const SweepReport& report, const std::string& file, const std::optional<std::filesystem::path>& out) {
  fmt::print("# comet sweep {}\n", file.empty() ? "<built-in default scenario>" : file);
  for (const std::string& line : report.parameters) fmt::print("# {}\n", line);
  fmt::print("# {} of {} points; compute and exposed comm: the critical GPU's, per layer\n", report.results.size(),
             report.total_points);
  fmt::print("{}", format_text_table(sweep_table(report)));
  if (out) fmt::print("reports in {}: results.json, results.csv, report.html\n", out->string());
}

// The child's answer for point i: its row, or why it failed (message and exit code).
struct PointOutcome {
  std::optional<Result> row;
  std::string failure;
  int exit_code = 0;
};

PointOutcome point_outcome(int i, const Point& point, const ChildOutcome& outcome) {
  const std::string what = describe_settings(point.settings);
  if (outcome.signal != 0)
    return {{}, fmt::format("point {} ({}) was killed by signal {} ({})", i, what, outcome.signal, strsignal(outcome.signal)), 3};
  if (outcome.failed) return {{}, fmt::format("point {} ({}) failed: {}", i, what, outcome.output), 3};
  const auto simulated = nlohmann::ordered_json::parse(outcome.output);
  if (simulated.contains("input_error"))
    return {{}, fmt::format("point {} ({}): {}", i, what, simulated["input_error"].get<std::string>()), EXIT_BAD_INPUT};
  return {point_row(i, point, simulated), "", 0};
}

}  // namespace

int SweepCommand::run() const {
  // Under mpirun / srun: this rank's share of the points; rank 0 writes and prints everything.
  return run_on_point_ranks([this](const PointRanks& ranks) { return run_on_ranks(ranks); });
}

int SweepCommand::run_on_ranks(const PointRanks& ranks) const {
  const std::vector<SweepAxis> axes = parse_sweep_axes(sets_);
  const std::vector<Point> points = load_points(file_, axes, policies_);
  const SweepRun run{engine_, engine_.engine_name()};
  if (!engine_.calibration.empty()) load_cost_model(engine_.calibration);  // fails before any point runs
  std::optional<std::filesystem::path> out;
  if (!output_.empty() && ranks.root()) out = prepare_output_directory(output_);
  SweepReport report = empty_report(points, axes, run, file_, jobs_);
  if (out && ranks.root()) write_reports(*out, report, run);  // at once: the files exist from the start

  std::map<int, Result> finished;  // by point index, so the files are in point order
  PointOutcome failure;
  SweepProgress progress(report.total_points, ::isatty(2) != 0);
  const StopSignals stop_signals;
  ChildPoolTasks tasks;
  tasks.num_items = report.total_points;
  tasks.jobs = jobs_;
  tasks.work = [&](int i) { return simulate_point(points[i], run); };
  tasks.on_started = [&](int) { progress.started(); };
  tasks.should_stop = [] { return StopSignals::requested(); };
  tasks.on_finished = [&](int i, const ChildOutcome& outcome) {
    PointOutcome point = point_outcome(i, points[i], outcome);
    if (!point.row) {
      failure = std::move(point);
      return false;
    }
    finished[i] = *point.row;
    report.results.clear();
    for (const auto& [index, row] : finished) report.results.push_back(row);
    if (out) write_reports(*out, report, run);
    progress.finished(i, describe_settings(points[i].settings),
                      fmt::format("layer time {:.3f} ms", point.row->at("layer_time_s").get<double>() * 1e3));
    return true;
  };
  const bool complete = run_distributed_pool(tasks, ranks);
  if (!ranks.root()) return 0;  // rank 0 reports every point
  progress.close();

  if (json_) {
    fmt::print("{}\n", results_document(report, run).dump(2));
  } else {
    print_table(report, file_, out);
  }
  if (!failure.failure.empty()) {
    fmt::print(stderr, "comet: {}: {}\n", failure.exit_code == EXIT_BAD_INPUT ? "error" : "internal error", failure.failure);
    return failure.exit_code;
  }
  if (!complete) {
    const int signal = StopSignals::signal_number();
    fmt::print(stderr, "comet sweep: stopped by {} after {} of {} points; the finished points are kept{}\n",
               signal ? fmt::format("SIG{}", sigabbrev_np(signal)) : "a signal", report.results.size(),
               report.total_points, out ? " in " + out->string() : "");
    return 128 + (signal ? signal : SIGINT);
  }
  return 0;
}

}  // namespace comet
