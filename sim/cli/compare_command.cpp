#include "compare_command.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <set>

#include "atomic_file.hpp"
#include "compare_report.hpp"
#include "executor.hpp"
#include "link_usage.hpp"
#include "output_directory.hpp"
#include "perfetto_trace.hpp"
#include "policy_advice.hpp"
#include "policy_combinations.hpp"
#include "results_csv.hpp"
#include "scenario_argument.hpp"
#include "simulation.hpp"
#include "topology_builders.hpp"

namespace comet {
namespace {

constexpr std::size_t HEAT_MAP_LINKS = 10;     // columns of the heat map
constexpr std::size_t LINKS_PER_POLICY = 3;    // each policy's busiest links are candidates

struct Run {
  ComparedPolicy compared;
  std::vector<double> link_utilization;
};

// One combination: its result object, its critical GPU's activity, and its trace (with -o).
Run run_combination(const SimulationSetup& setup, const SimulationResult& result, double baseline_time_s,
                    const std::filesystem::path* out, const TraceOptions& trace_options) {
  Run run;
  run.compared.result = result_json(setup, result, baseline_time_s);
  const int expert_parallel = setup.scenario->expert_parallel;
  run.compared.critical_gpu = gpu_activity(result.timeline, result.metrics.critical_gpu, expert_parallel);
  run.link_utilization = link_utilization(result.timeline, *setup.topology);
  if (out) {
    const Result& r = run.compared.result;
    nlohmann::ordered_json about{{"scenario", r["scenario"]}, {"engine", r["engine"]},     {"placement", r["placement"]},
                                 {"partition", r["partition"]}, {"a2a", r["a2a"]}, {"layer_time_s", r["layer_time_s"]}};
    const TraceInput input{result.plan.get(), &result.timeline, setup.topology, result.metrics.critical_gpu,
                           expert_parallel, std::move(about)};
    run.compared.trace_file = trace_file_name(r);
    write_file_atomically(*out / run.compared.trace_file, perfetto_trace(input, trace_options).dump() + "\n");
  }
  return run;
}

// Rows: policies as ranked; columns: the links busiest under any of them (each policy's top
// three), most utilised first.
HeatMap links_heat_map(const std::vector<Run>& runs, const std::vector<std::size_t>& order, const Topology& topology) {
  HeatMap map{"Most loaded links: utilisation per policy", {}, {}, {}};
  if (runs.empty() || runs.front().link_utilization.empty()) return map;
  std::set<int> candidates;
  for (const Run& run : runs)
    for (int link : busiest_links(run.link_utilization, LINKS_PER_POLICY)) candidates.insert(link);
  std::vector<std::pair<double, int>> by_peak;
  for (int link : candidates) {
    double peak = 0.0;
    for (const Run& run : runs) peak = std::max(peak, run.link_utilization[link]);
    by_peak.emplace_back(-peak, link);
  }
  std::sort(by_peak.begin(), by_peak.end());
  if (by_peak.size() > HEAT_MAP_LINKS) by_peak.resize(HEAT_MAP_LINKS);
  for (const auto& [peak, link] : by_peak) {
    const auto [from, to] = topology.link_endpoints(link);
    map.column_labels.push_back(fmt::format("{} -> {}", topology.vertex_name(from), topology.vertex_name(to)));
  }
  for (std::size_t i : order) {
    map.row_labels.push_back(policy_label(runs[i].compared.result));
    std::vector<double> row;
    for (const auto& [peak, link] : by_peak) row.push_back(runs[i].link_utilization[link]);
    map.values.push_back(std::move(row));
  }
  return map;
}

// "rank" first, then the `comet simulate --json` keys.
Result with_rank(const Result& result, std::size_t rank) {
  Result ranked{{"rank", rank}};
  for (const auto& [key, value] : result.items()) ranked[key] = value;
  return ranked;
}

}  // namespace

void CompareCommand::add_to(CLI::App& app) {
  app_ = app.add_subcommand("compare", "Run every combination of placement, partition and all-to-all policies, rank "
                                       "them by layer time; with -o, write results.json/csv, report.md/html and traces");
  app_->add_option("scenario", file_, "Scenario file (default: the built-in 1024-GPU scenario)");
  add_list_option(*app_, "--placements", placements_,
                  fmt::format("Placements, comma-separated: {} (default: the scenario's list, else all)",
                              policy_choices(PolicyFamily::PLACEMENT)));
  add_list_option(*app_, "--partitions", partitions_,
                  fmt::format("Partitions, comma-separated: {} (default: the scenario's list, else all)",
                              policy_choices(PolicyFamily::PARTITION)));
  add_list_option(*app_, "--a2a", a2a_,
                  fmt::format("All-to-all algorithms, comma-separated: {} (default: the scenario's list, else all)",
                              policy_choices(PolicyFamily::A2A)));
  engine_.add_to(*app_);
  app_->add_option("-o,--output", output_, "Directory for results.json, results.csv, report.md, report.html and "
                                           "trace-*.json (created if missing)");
  app_->add_option("--trace-gpus", trace_gpus_, "GPUs per trace: the critical GPU, those finishing last, and the "
                                                "first to finish (0: every GPU)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app_->add_option("--trace-links", trace_links_, "Most loaded links per trace (0: none)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app_->add_flag("--json", json_, "Print results.json to stdout instead of the table");
}

namespace {

// Simulates every combination (the baseline's result is reused when it is one of them).
std::vector<Run> run_combinations(const SimulationSetup& setup, const std::vector<PolicyTriple>& combinations,
                                  const SimulationResult& baseline_result, const std::filesystem::path* out,
                                  const TraceOptions& trace_options, bool terminal) {
  const double baseline_time = baseline_result.metrics.layer_time_s;
  std::vector<Run> runs;
  for (std::size_t i = 0; i < combinations.size(); ++i) {
    const PolicyTriple& triple = combinations[i];
    if (terminal)
      fmt::print(stderr, "comet compare: [{}/{}] {} / {} / {} ...\n", i + 1, combinations.size(),
                 triple.placement.text(), triple.partition.text(), triple.a2a.text());
    if (same_policies(triple, baseline_result.policies)) {
      runs.push_back(run_combination(setup, baseline_result, baseline_time, out, trace_options));
    } else {
      runs.push_back(run_combination(setup, simulate(setup, triple), baseline_time, out, trace_options));
    }
  }
  return runs;
}

// Indices of `runs` by layer time, ties in combination order.
std::vector<std::size_t> ranking(const std::vector<Run>& runs) {
  std::vector<std::size_t> order(runs.size());
  std::iota(order.begin(), order.end(), 0);
  const auto layer_time = [&](std::size_t i) { return runs[i].compared.result.at("layer_time_s").get<double>(); };
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return layer_time(a) < layer_time(b); });
  return order;
}

std::vector<Result> result_rows(const CompareReport& report) {
  std::vector<Result> rows;
  for (const ComparedPolicy& p : report.ranked) rows.push_back(p.result);
  return rows;
}

}  // namespace

int CompareCommand::run() const {
  const bool terminal = ::isatty(2) != 0;
  const Scenario scenario = load_scenario_argument(file_);
  const std::vector<PolicyTriple> combinations =
      policy_combinations(scenario, file_, {placements_, partitions_, a2a_});
  const std::string engine = engine_.engine_name();
  const CostModel cost_model = engine_.cost_model(scenario);
  std::optional<std::filesystem::path> out;
  if (!output_.empty()) out = prepare_output_directory(output_);
  const Topology topology = build_topology(scenario.topology);
  const PathCosts costs(topology);
  const SimulationSetup setup{&scenario, &topology, &costs, &cost_model, engine, engine_.layers, engine_.steps};
  const TraceOptions trace_options{trace_gpus_, trace_links_};
  const auto start = std::chrono::steady_clock::now();

  // The baseline first: every speedup needs its layer time.
  if (terminal) fmt::print(stderr, "comet compare: baseline contiguous / none / direct on {} ...\n", engine);
  const SimulationResult baseline = simulate(setup, baseline_policies());
  const std::vector<Run> runs =
      run_combinations(setup, combinations, baseline, out ? &*out : nullptr, trace_options, terminal);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const std::vector<std::size_t> order = ranking(runs);
  CompareReport report;
  report.scenario = scenario.name;
  report.parameters = {
      fmt::format("scenario {} ({}): topology {} ({} GPUs), model {}, EP {}, tokens/GPU {}, routing {}", scenario.name,
                  file_.empty() ? "built-in default" : file_, scenario.topology.name, topology.num_gpus(),
                  scenario.model.preset, scenario.expert_parallel, scenario.workload.tokens_per_gpu,
                  to_string(scenario.workload.routing.kind)),
      fmt::format("engine {}, layers {}, steps {}, cost model {}", engine, engine_.layers, engine_.steps,
                  engine_.cost_model_label(cost_model)),
      fmt::format("{} combinations; times per layer; baseline contiguous / none / direct: {:.3f} ms", runs.size(),
                  baseline.metrics.layer_time_s * 1e3)};
  for (std::size_t rank = 0; rank < order.size(); ++rank) {
    report.ranked.push_back(runs[order[rank]].compared);
    report.ranked.back().result = with_rank(report.ranked.back().result, rank + 1);
  }
  report.baseline = run_combination(setup, baseline, baseline.metrics.layer_time_s, nullptr, trace_options).compared;
  report.busiest_links = links_heat_map(runs, order, topology);

  const std::vector<Result> rows = result_rows(report);
  const nlohmann::ordered_json document{{"command", "compare"}, {"scenario", scenario.name}, {"engine", engine},
                                        {"layers", engine_.layers}, {"steps", engine_.steps}, {"gpus", topology.num_gpus()},
                                        {"baseline", report.baseline.result}, {"results", rows}};
  if (out) {
    write_file_atomically(*out / "results.json", document.dump(2) + "\n");
    write_file_atomically(*out / "results.csv", results_csv(rows));
    write_file_atomically(*out / "report.md", compare_markdown(report));
    write_file_atomically(*out / "report.html", compare_html(report));
  }
  if (json_) {
    fmt::print("{}\n", document.dump(2));
    return 0;
  }
  fmt::print("# comet compare {}\n", file_.empty() ? "<built-in default scenario>" : file_);
  for (const std::string& line : report.parameters) fmt::print("# {}\n", line);
  fmt::print("# compute and exposed comm: the critical GPU's; cross-node: all-to-all bytes leaving the node\n");
  fmt::print("{}", format_text_table(ranking_table(report.ranked)));
  fmt::print("\n{}\n", policy_advice(rows, report.baseline.result).front());
  if (out) fmt::print("reports in {}: results.json, results.csv, report.md, report.html, trace-*.json\n", out->string());
  fmt::print("wall {:.2f} s\n", wall);
  return 0;
}

}  // namespace comet
