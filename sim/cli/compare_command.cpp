#include "compare_command.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <map>
#include <optional>
#include <set>

#include "atomic_file.hpp"
#include "child_pool.hpp"
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
  std::string trace;  ///< the Perfetto trace's text (with -o), written by whoever collects the runs
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
    run.trace = perfetto_trace(input, trace_options).dump() + "\n";
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
  app_->add_option("scenario", file_, "Scenario file, or a shipped scenario's name (default: the built-in 1024-GPU scenario)");
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
  app_->add_option("-j,--jobs", jobs_, "Combinations simulated at once, each in its own process (0: one per core)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app_->add_flag("--json", json_, "Print results.json to stdout instead of the table");
}

namespace {

// A Run as text, to come back from the child that simulated it (doubles round-trip exactly).
std::string run_to_text(const Run& run) {
  nlohmann::ordered_json bars = nlohmann::ordered_json::array();
  for (const ActivityBar& bar : run.compared.critical_gpu)
    bars.push_back({bar.op, bar.start_s, bar.end_s, bar.communication, bar.name});
  return nlohmann::ordered_json{{"result", run.compared.result}, {"critical_gpu", std::move(bars)},
                                {"trace_file", run.compared.trace_file}, {"trace", run.trace},
                                {"link_utilization", run.link_utilization}}
      .dump();
}

Run run_from_text(const std::string& text) {
  const nlohmann::ordered_json j = nlohmann::ordered_json::parse(text);
  if (const auto error = j.find("input_error"); error != j.end())
    throw InputError({error->at("file").get<std::string>(), error->at("line").get<int>(), error->at("column").get<int>()},
                     error->at("key").get<std::string>(), error->at("value").get<std::string>(),
                     error->at("expected").get<std::string>());
  Run run;
  run.compared.result = j.at("result");
  for (const auto& bar : j.at("critical_gpu"))
    run.compared.critical_gpu.push_back({bar.at(0).get<std::int32_t>(), bar.at(1).get<double>(), bar.at(2).get<double>(),
                                         bar.at(3).get<bool>(), bar.at(4).get<std::string>()});
  run.compared.trace_file = j.at("trace_file").get<std::string>();
  run.trace = j.at("trace").get<std::string>();
  run.link_utilization = j.at("link_utilization").get<std::vector<double>>();
  return run;
}

// Combinations that differ only in placements putting every expert in the same place (contiguous
// and strided with one expert per GPU) build the same Plan and get the same results but for the
// placement's name: one simulation serves them all, each member's Run made from it under its own
// names (the files are those simulating each would write). Each placement is made once, here
// (children inherit it); one a placement cannot be made for is left to its combinations' children,
// which report it as they did.
struct CombinationGroup {
  std::vector<std::size_t> members;  ///< indices into the combinations, the first simulated
  const ExpertPlacement* placement = nullptr;
};

std::vector<CombinationGroup> group_combinations(const std::vector<PolicyTriple>& combinations,
                                                 const std::map<std::string, std::optional<ExpertPlacement>>& placements) {
  std::vector<CombinationGroup> groups;
  for (std::size_t i = 0; i < combinations.size(); ++i) {
    const PolicyTriple& c = combinations[i];
    const std::optional<ExpertPlacement>& placement = placements.at(c.placement.text());
    auto same_plan = [&](const CombinationGroup& g) {
      const PolicyTriple& first = combinations[g.members.front()];
      return placement && g.placement && first.partition.text() == c.partition.text() && first.a2a.text() == c.a2a.text() &&
             g.placement->same_positions(*placement);
    };
    const auto found = std::find_if(groups.begin(), groups.end(), same_plan);
    if (found != groups.end())
      found->members.push_back(i);
    else
      groups.push_back({{i}, placement ? &*placement : nullptr});
  }
  return groups;
}

// The group's members' Runs from one result, as text to come back from the child (an array).
std::string group_runs_text(const SimulationSetup& setup, SimulationResult result, const CombinationGroup& group,
                            const std::vector<PolicyTriple>& combinations, double baseline_time,
                            const std::filesystem::path* out, const TraceOptions& trace_options) {
  nlohmann::ordered_json texts = nlohmann::ordered_json::array();
  for (std::size_t member : group.members) {
    result.policies = combinations[member];
    texts.push_back(run_to_text(run_combination(setup, result, baseline_time, out, trace_options)));
  }
  return texts.dump();
}

// Simulates every combination (the baseline's result is reused for its group; each group of
// combinations with the same Plan once), `jobs` at once, each in a child process (under mpirun,
// over the ranks); results in combination order, on rank 0 (the other ranks get none). Traces are
// written here, as the runs come back.
std::vector<Run> run_combinations(const SimulationSetup& setup, const std::vector<PolicyTriple>& combinations,
                                  const SimulationResult& baseline_result, const std::filesystem::path* out,
                                  const TraceOptions& trace_options, bool terminal, int jobs, const PointRanks& ranks) {
  const double baseline_time = baseline_result.metrics.layer_time_s;
  std::map<std::string, std::optional<ExpertPlacement>> placements;
  for (const PolicyTriple& c : combinations) {
    if (placements.count(c.placement.text())) continue;
    std::optional<ExpertPlacement>& made = placements[c.placement.text()];
    try {
      made = make_plan_placement(*setup.scenario, *setup.topology, *setup.costs, c.placement, *setup.routing);
    } catch (const InputError&) {
    }
  }
  const std::vector<CombinationGroup> groups = group_combinations(combinations, placements);
  std::vector<std::optional<Run>> runs(combinations.size());
  std::vector<std::size_t> to_simulate;  // groups
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const bool has_baseline = std::any_of(groups[g].members.begin(), groups[g].members.end(), [&](std::size_t m) {
      return same_policies(combinations[m], baseline_result.policies);
    });
    if (!has_baseline) {
      to_simulate.push_back(g);
      continue;
    }
    SimulationResult result = baseline_result;
    for (std::size_t m : groups[g].members) {
      result.policies = combinations[m];
      runs[m] = run_combination(setup, result, baseline_time, out, trace_options);
    }
  }
  // `dynamic` prices ten or so Plans before simulating its own: its combinations take several
  // times the others', so they start first, and the short ones fill the cores at the end.
  std::stable_partition(to_simulate.begin(), to_simulate.end(),
                        [&](std::size_t g) { return combinations[groups[g].members.front()].partition.name == "dynamic"; });
  std::optional<InputError> input_error;
  std::string failure;
  std::size_t done = 0, to_do = 0;
  for (std::size_t g : to_simulate) to_do += groups[g].members.size();
  ChildPoolTasks tasks;
  tasks.num_items = static_cast<int>(to_simulate.size());
  tasks.jobs = jobs;
  tasks.work = [&](int item) {
    const CombinationGroup& group = groups[to_simulate[item]];
    try {
      return group_runs_text(setup, simulate(setup, combinations[group.members.front()], group.placement), group,
                             combinations, baseline_time, out, trace_options);
    } catch (const InputError& e) {
      return nlohmann::json{{"input_error", {{"file", e.location().file}, {"line", e.location().line},
                                             {"column", e.location().column}, {"key", e.key_path()},
                                             {"value", e.value()}, {"expected", e.expected()}}}}
          .dump();
    }
  };
  tasks.on_finished = [&](int item, const ChildOutcome& outcome) {
    const CombinationGroup& group = groups[to_simulate[item]];
    const PolicyTriple& triple = combinations[group.members.front()];
    if (outcome.signal != 0 || outcome.failed) {
      failure = fmt::format("{} / {} / {}: {}", triple.placement.text(), triple.partition.text(), triple.a2a.text(),
                            outcome.signal != 0 ? strsignal(outcome.signal) : outcome.output);
      return false;
    }
    try {
      const nlohmann::ordered_json texts = nlohmann::ordered_json::parse(outcome.output);
      if (!texts.is_array()) run_from_text(outcome.output);  // an input error: throws it
      for (std::size_t i = 0; i < group.members.size(); ++i) runs[group.members[i]] = run_from_text(texts.at(i).get<std::string>());
    } catch (const InputError& e) {
      input_error = e;
      return false;
    }
    if (terminal)
      for (std::size_t member : group.members)
        fmt::print(stderr, "comet compare: [{}/{}] {} / {} / {} done\n", ++done, to_do, combinations[member].placement.text(),
                   combinations[member].partition.text(), combinations[member].a2a.text());
    return true;
  };
  run_distributed_pool(tasks, ranks);
  if (!ranks.root()) return {};
  if (input_error) throw *input_error;
  if (!failure.empty()) throw std::runtime_error("comet compare: a combination failed: " + failure);
  std::vector<Run> ordered;
  for (std::optional<Run>& run : runs) {
    if (out && !run->trace.empty()) write_file_atomically(*out / run->compared.trace_file, run->trace);
    ordered.push_back(std::move(*run));
  }
  return ordered;
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
  // Under mpirun / srun: the combinations split over the ranks; rank 0 writes and prints.
  return run_on_point_ranks([this](const PointRanks& ranks) { return run_on_ranks(ranks); });
}

int CompareCommand::run_on_ranks(const PointRanks& ranks) const {
  const bool terminal = ::isatty(2) != 0 && ranks.root();
  const Scenario scenario = load_scenario_argument(file_);
  const std::vector<PolicyTriple> combinations =
      policy_combinations(scenario, file_, {placements_, partitions_, a2a_});
  const std::string engine = engine_.engine_name();
  const CostModel cost_model = engine_.cost_model(scenario);
  // Every rank makes the traces of its combinations; rank 0 writes them (and only it prepares -o).
  std::optional<std::filesystem::path> out;
  if (!output_.empty()) out = ranks.root() ? prepare_output_directory(output_) : std::filesystem::path(output_);
  const Topology topology = build_topology(scenario.topology);
  const PathCosts costs(topology);
  // Every combination's Plan is built from the same routed workload.
  const PlanRouting routing = route_workload(scenario, topology.num_gpus(), engine_.steps);
  SimulationSetup setup{&scenario, &topology, &costs, &cost_model, engine, engine_.layers, engine_.steps};
  setup.routing = &routing;
  const TraceOptions trace_options{trace_gpus_, trace_links_};
  const auto start = std::chrono::steady_clock::now();

  // The baseline first: every speedup needs its layer time.
  if (terminal) fmt::print(stderr, "comet compare: baseline contiguous / none / direct on {} ...\n", engine);
  const SimulationResult baseline = simulate(setup, baseline_policies());
  const std::vector<Run> runs =
      run_combinations(setup, combinations, baseline, out ? &*out : nullptr, trace_options, terminal,
                       jobs_ > 0 ? jobs_ : available_cores(), ranks);
  if (!ranks.root()) return 0;
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
