#include "calibration_file.hpp"
#include "bench_command.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <csignal>
#include <cstring>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <algorithm>
#include <cmath>
#include <map>
#include <functional>
#include <thread>

#include "bisection.hpp"
#include "child_process.hpp"
#include "command_timing.hpp"
#include "builtin_files.hpp"
#include "input_error.hpp"
#include "executor.hpp"
#include "metrics.hpp"
#include "path_costs.hpp"
#include "scenario_writer.hpp"
#include "plan_builder.hpp"
#include "scenario.hpp"
#include "topology_builders.hpp"

namespace comet {
namespace {

struct TopologyBench {
  std::string name;
  int gpus = 0;
  int vertices = 0;
  int links = 0;
  double build_s = 0.0;       // parse + build graph + routing tables (BFS per leaf)
  double path_costs_s = 0.0;  // PathCosts from representative routes
  double all_pairs_s = 0.0;   // touching every GPU pair's cost once
  double pairs = 0.0;
  double checksum = 0.0;      // sum of pair latencies, so the sweep cannot be optimized away
  double bisection_s = 0.0;
  double peak_rss_MiB = 0.0;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TopologyBench measure(const std::string& name) {
  TopologyBench b;
  b.name = name;
  auto start = std::chrono::steady_clock::now();
  const TopologySpec spec = load_topology(name, ".");
  const Topology topology = build_topology(spec);
  b.build_s = seconds_since(start);
  b.gpus = topology.num_gpus();
  b.vertices = static_cast<int>(boost::num_vertices(topology.graph()));
  b.links = topology.num_directed_links() / 2;

  start = std::chrono::steady_clock::now();
  const PathCosts costs(topology);
  b.path_costs_s = seconds_since(start);

  start = std::chrono::steady_clock::now();
  double sum = 0.0;
  for (int src = 0; src < b.gpus; ++src)
    for (int dst = 0; dst < b.gpus; ++dst) sum += costs(src, dst).latency_s;
  b.all_pairs_s = seconds_since(start);
  b.pairs = static_cast<double>(b.gpus) * b.gpus;
  b.checksum = sum;

  start = std::chrono::steady_clock::now();
  (void)bisection_bandwidth_Bps(topology);
  b.bisection_s = seconds_since(start);
  return b;
}

nlohmann::json to_json(const TopologyBench& b) {
  return {{"topology", b.name},         {"gpus", b.gpus},           {"vertices", b.vertices},
          {"links", b.links},           {"build_s", b.build_s},     {"path_costs_s", b.path_costs_s},
          {"all_pairs_s", b.all_pairs_s}, {"pairs", b.pairs},       {"checksum", b.checksum},
          {"bisection_s", b.bisection_s}, {"peak_rss_MiB", b.peak_rss_MiB}};
}

// Runs `work` in a child process and returns its JSON result with the child's peak RSS (MiB),
// so each measurement's memory is its own.
nlohmann::json run_in_child(const std::string& label, const std::function<nlohmann::json()>& work) {
  const ChildOutcome outcome = run_in_child_process([&] { return work().dump(); });
  if (outcome.signal != 0)
    throw std::runtime_error(outcome.signal == SIGKILL ? "stopped at the --timeout limit"
                                                       : fmt::format("died ({})", strsignal(outcome.signal)));
  if (outcome.failed) throw std::runtime_error(fmt::format("benchmark of {} failed: {}", label, outcome.output));
  nlohmann::json j = nlohmann::json::parse(outcome.output);
  j["peak_rss_MiB"] = outcome.peak_rss_MiB;
  return j;
}

TopologyBench measure_in_child(const std::string& name) {
  const nlohmann::json j = run_in_child(name, [&] { return to_json(measure(name)); });
  TopologyBench b;
  b.name = j["topology"];
  b.gpus = j["gpus"];
  b.vertices = j["vertices"];
  b.links = j["links"];
  b.build_s = j["build_s"];
  b.path_costs_s = j["path_costs_s"];
  b.all_pairs_s = j["all_pairs_s"];
  b.pairs = j["pairs"];
  b.checksum = j["checksum"];
  b.bisection_s = j["bisection_s"];
  b.peak_rss_MiB = j["peak_rss_MiB"];
  return b;
}

// Issue 3's figure: the default scenario's cluster (fat-tree-1024) with DeepSeek-V3 (256 experts,
// top-8, 4096 tokens per GPU, EP 256, DP 4): workload, placement and the full forward + backward
// Plan of one layer, per policy pair.
struct PlanBenchCase {
  const char* placement;
  const char* partition;
  const char* a2a;
};
constexpr PlanBenchCase PLAN_CASES[] = {{"topology", "fixed:8", "direct"},
                                        {"contiguous", "none", "direct"},
                                        {"topology", "dynamic", "hierarchical"},
                                        {"bottleneck", "fine", "direct"}};

nlohmann::json measure_plan(const PlanBenchCase& c) {
  const auto start = std::chrono::steady_clock::now();
  const Scenario scenario = default_scenario();
  const Topology topology = build_topology(scenario.topology);
  const PathCosts costs(topology);
  const CostModel cost_model = cost_model_for(scenario.topology.node.gpu_model, {});
  const double setup_s = seconds_since(start);
  const auto plan_start = std::chrono::steady_clock::now();
  const BuiltPlan built = build_plan({&scenario, &topology, &costs, &cost_model,
                                      parse_policy(PolicyFamily::PLACEMENT, c.placement),
                                      parse_policy(PolicyFamily::PARTITION, c.partition),
                                      parse_policy(PolicyFamily::A2A, c.a2a), 1, 1});
  return {{"placement", c.placement}, {"partition", c.partition}, {"a2a", c.a2a},
          {"gpus", topology.num_gpus()}, {"setup_s", setup_s}, {"plan_s", seconds_since(plan_start)},
          {"ops", built.plan.ops().size()}, {"plan_MiB", static_cast<double>(built.plan.memory_bytes()) / 1048576.0}};
}

// The child stops itself, and the simulations the SimGrid engines fork, after `timeout_s`.
void stop_process_group_after(double timeout_s) {
  ::setpgid(0, 0);
  ::signal(SIGALRM, [](int) { ::kill(0, SIGKILL); });
  ::alarm(static_cast<unsigned>(timeout_s));
}

// A scenario given as YAML text and one layer's Plan of it (contiguous, `partition`, direct).
struct BenchLayer {
  Scenario scenario;
  Topology topology;
  PathCosts costs;
  CostModel model;
  BuiltPlan built;
  BenchLayer(const std::string& yaml, const char* partition)
      : scenario(parse_scenario(load_yaml_text(yaml, "bench"), ".")), topology(build_topology(scenario.topology)),
        costs(topology), model(cost_model_for(scenario.topology.node.gpu_model, {})),
        built(build_plan({&scenario, &topology, &costs, &model, parse_policy(PolicyFamily::PLACEMENT, "contiguous"),
                          parse_policy(PolicyFamily::PARTITION, partition), parse_policy(PolicyFamily::A2A, "direct"), 1, 1})) {}
};

// One layer on a generated cluster, timed.
nlohmann::json measure_engine(const std::string& engine, const std::string& kind, int gpus, double timeout_s) {
  stop_process_group_after(timeout_s);
  const auto start = std::chrono::steady_clock::now();
  std::string text = write_init_scenario({kind, gpus, 256, "deepseek-v3", 4096});
  const std::string uniform = "    kind: uniform ";
  text.replace(text.find(uniform), uniform.size(), "    kind: zipf\n    alpha: 0.3\n    #");
  const BenchLayer layer(text, "fixed:4");
  const auto simulate_start = std::chrono::steady_clock::now();
  const Timeline timeline = make_executor(engine)->run(layer.built.plan, layer.topology, layer.model);
  const Metrics metrics = compute_metrics(layer.built.plan, timeline, layer.topology, layer.costs);
  return {{"engine", engine}, {"cluster", kind}, {"gpus", gpus}, {"wall_s", seconds_since(start)},
          {"simulate_s", seconds_since(simulate_start)}, {"layer_time_s", metrics.layer_time_s},
          {"ops", layer.built.plan.ops().size()}};
}

// One all-to-all alone: the forward dispatch of a Mixtral layer (1024 experts, top-2, uniform
// routing, 4096 tokens per GPU) on 1024 single-GPU nodes under a 2-tier non-blocking fat-tree:
// every GPU pair its own route, as in the speed issue's reference case (SimGrid's one flow per
// pair did not finish in 600 s there).
const char* const SINGLE_A2A_SCENARIO = R"(name: one-all-to-all-1024x1
topology:
  name: fat-tree-1024x1
  kind: fat-tree
  node: {gpus: 1, fabric: nvswitch, gpu_link_bandwidth: 450GB/s, nics: 1, nic_bandwidth: 400Gbps, pcie_bandwidth: 64GB/s}
  fat_tree: {down: [32, 32], up: [1, 32]}
model: {preset: mixtral-8x7b, experts: 1024}
parallelism: {expert_parallel: 1024}
workload: {tokens_per_gpu: 4096, routing: {kind: uniform}}
)";

nlohmann::json measure_single_all_to_all(const std::string& engine, double timeout_s) {
  stop_process_group_after(timeout_s);
  const auto start = std::chrono::steady_clock::now();
  const BenchLayer layer(SINGLE_A2A_SCENARIO, "none");
  const std::vector<Op>& ops = layer.built.plan.ops();
  const auto dispatch = std::find_if(ops.begin(), ops.end(), [](const Op& op) {
    return op.kind == OpKind::ALL_TO_ALL && op.tags.phase == A2aPhase::DISPATCH;
  });
  Plan plan(layer.built.plan.header());
  Op op = *dispatch;
  op.matrix = plan.add_matrix(layer.built.plan.matrices()[dispatch->matrix]);
  plan.add(op, {});
  const auto simulate_start = std::chrono::steady_clock::now();
  const Timeline timeline = make_executor(engine)->run(plan, layer.topology, layer.model);
  return {{"command", "one all-to-all, 1024x1 GPUs, " + engine}, {"engine", engine},
          {"wall_s", seconds_since(start)}, {"simulate_s", seconds_since(simulate_start)},
          {"all_to_all_s", timeline.makespan_s()}, {"transfers", plan.matrices()[0].transfers.size()}};
}

}  // namespace

void BenchCommand::add_to(CLI::App& app) {
  app_ = app.add_subcommand("bench", "Benchmark: topology build and path costs, Plan build, and simulation "
                                     "speed of every engine from 128 to 10,240 GPUs (time and peak memory)");
  app_->add_option("--sections", sections_,
                   "Tables to print: topology, plan, engines, commands (whole commands against the speed targets of "
                   "docs/engines.md; default: all)")
      ->delimiter(',')
      ->check(CLI::IsMember({"topology", "plan", "engines", "commands"}));
  app_->add_option("--topologies", topologies_, "Topology table: shipped topology names (default: all)")->delimiter(',');
  app_->add_option("--engines", engines_, "Engine table: engines (default: every engine built)")->delimiter(',');
  app_->add_option("--sizes", sizes_, "Engine table: cluster sizes in GPUs (default: 128,256,512,1024,2048,4096,10240)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  app_->add_option("--timeout", timeout_s_, "Engine table: seconds before a run is stopped and reported as such")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app_->add_flag("--json", json_, "Print a JSON array instead of the tables");
}

int BenchCommand::run() const {
  for (const std::string& name : topologies_)
    if (!find_builtin_topology(name))
      throw InputError({"<command line>", 0, 0}, "--topologies", name, "not a shipped topology");
  for (const std::string& engine : engines_) make_executor(engine);  // unknown or not built: exit 2
  auto wanted = [&](const char* section) {
    return sections_.empty() || std::find(sections_.begin(), sections_.end(), section) != sections_.end();
  };
  nlohmann::json all = nlohmann::json::array();
  if (!json_) {
    char host[256] = "?";
    ::gethostname(host, sizeof host - 1);
    fmt::print("# comet bench on host {}, {} hardware threads; every case in its own child process (its peak RSS)\n",
               host, std::thread::hardware_concurrency());
  }
  if (wanted("topology")) topology_table(all);
  if (wanted("plan")) plan_table(all);
  if (wanted("engines")) engine_table(all);
  if (wanted("commands")) command_table(all);
  if (json_) fmt::print("{}\n", all.dump(2));
  return 0;
}

void BenchCommand::topology_table(nlohmann::json& all) const {
  std::vector<std::string> names = topologies_;
  if (names.empty())
    for (const BuiltinFile& file : builtin_topologies()) names.emplace_back(file.name);
  if (!json_) {
    fmt::print("\n# Topology: parse + build graph + routing tables (build), path costs for all GPU pairs, every pair's\n");
    fmt::print("# cost touched once (all_pairs), bisection max-flow\n");
    fmt::print("{:<16} {:>6} {:>7} {:>7} {:>8} {:>10} {:>9} {:>11} {:>9} {:>8}\n", "topology", "gpus", "vertices",
               "links", "build", "path_costs", "all_pairs", "pairs", "bisection", "peak_rss");
    fmt::print("{:<16} {:>6} {:>7} {:>7} {:>8} {:>10} {:>9} {:>11} {:>9} {:>8}\n", "#", "", "", "", "s", "s", "s",
               "count", "s", "MiB");
  }
  for (const std::string& name : names) {
    const TopologyBench b = measure_in_child(name);
    if (json_) {
      all.push_back(to_json(b));
      continue;
    }
    fmt::print("{:<16} {:>6} {:>7} {:>7} {:>8.3f} {:>10.3f} {:>9.3f} {:>11.4g} {:>9.3f} {:>8.1f}\n", b.name, b.gpus,
               b.vertices, b.links, b.build_s, b.path_costs_s, b.all_pairs_s, b.pairs, b.bisection_s, b.peak_rss_MiB);
    std::fflush(stdout);
  }
}

void BenchCommand::plan_table(nlohmann::json& all) const {
  if (!json_) {
    fmt::print("\n# Plan: workload + placement + partition + forward/backward Plan of one layer (default scenario:\n");
    fmt::print("# fat-tree-1024, deepseek-v3, 4096 tokens/GPU, EP 256, DP 4); setup = parse + topology + path costs\n");
    fmt::print("{:<11} {:<9} {:<13} {:>8} {:>8} {:>8} {:>9} {:>9}\n", "placement", "partition", "a2a", "setup", "plan",
               "ops", "plan_mem", "peak_rss");
    fmt::print("{:<11} {:<9} {:<13} {:>8} {:>8} {:>8} {:>9} {:>9}\n", "#", "", "", "s", "s", "count", "MiB", "MiB");
  }
  for (const PlanBenchCase& c : PLAN_CASES) {
    const nlohmann::json j = run_in_child(c.placement, [&] { return measure_plan(c); });
    if (json_) {
      all.push_back(j);
      continue;
    }
    fmt::print("{:<11} {:<9} {:<13} {:>8.3f} {:>8.3f} {:>8} {:>9.1f} {:>9.1f}\n", c.placement, c.partition, c.a2a,
               j["setup_s"].get<double>(), j["plan_s"].get<double>(), j["ops"].get<long>(), j["plan_MiB"].get<double>(),
               j["peak_rss_MiB"].get<double>());
    std::fflush(stdout);
  }
}

void BenchCommand::engine_table(nlohmann::json& all) const {
  const std::vector<int> sizes = sizes_.empty() ? std::vector<int>{128, 256, 512, 1024, 2048, 4096, 10240} : sizes_;
  std::vector<std::string> engines = engines_;
  if (engines.empty())
    for (const std::string& e : available_engines())
      if (e != "packet") engines.push_back(e);  // ns-3: small cross-checks only
  if (!json_) {
    fmt::print("\n# Engines: one deepseek-v3 MoE layer, forward + backward, fixed:4, contiguous, direct, zipf(0.3)\n");
    fmt::print("# routing, 4096 tokens/GPU, EP = gcd(GPUs, 256); clusters from `comet init`. wall = plan + simulation.\n");
    fmt::print("# flow runs up to 1024 GPUs (per-flow max-min, the slow reference); runs past --timeout are stopped\n");
    fmt::print("# per_op = simulate / Plan ops: the engine's cost per op, comparable across sizes and runs\n");
    fmt::print("{:<10} {:<9} {:>6} {:>9} {:>9} {:>8} {:>9} {:>10}\n", "engine", "cluster", "gpus", "wall", "simulate",
               "per_op", "peak_rss", "layer_time");
    fmt::print("{:<10} {:<9} {:>6} {:>9} {:>9} {:>8} {:>9} {:>10}\n", "#", "", "", "s", "s", "us", "MiB", "ms");
  }
  std::map<std::pair<std::string, std::string>, std::vector<std::pair<double, double>>> growth;  // -> (gpus x ops, wall)
  for (int gpus : sizes)
    for (const char* kind : {"fat-tree", "tree", "rail"})
      for (const std::string& engine : engines) {
        if (engine == "flow" && gpus > 1024) continue;
        nlohmann::json j;
        try {
          j = run_in_child(engine, [&] { return measure_engine(engine, kind, gpus, timeout_s_); });
        } catch (const std::exception& error) {
          j = {{"engine", engine}, {"cluster", kind}, {"gpus", gpus}, {"error", error.what()}};
        }
        if (!j.contains("error"))
          growth[{engine, kind}].emplace_back(static_cast<double>(gpus) * j["ops"].get<double>(), j["wall_s"].get<double>());
        if (json_) {
          all.push_back(j);
          continue;
        }
        if (j.contains("error")) {
          fmt::print("{:<10} {:<9} {:>6} {}\n", engine, kind, gpus, j["error"].get<std::string>());
        } else {
          fmt::print("{:<10} {:<9} {:>6} {:>9.2f} {:>9.2f} {:>8.2f} {:>9.1f} {:>10.3f}\n", engine, kind, gpus,
                     j["wall_s"].get<double>(), j["simulate_s"].get<double>(),
                     1e6 * j["simulate_s"].get<double>() / std::max(1.0, j["ops"].get<double>()),
                     j["peak_rss_MiB"].get<double>(), j["layer_time_s"].get<double>() * 1e3);
        }
        std::fflush(stdout);
      }
  print_growth(growth, all);
}

void BenchCommand::print_growth(
    const std::map<std::pair<std::string, std::string>, std::vector<std::pair<double, double>>>& growth,
    nlohmann::json& all) const {
  if (!json_) {
    fmt::print("\n# Cost growth: wall ~ (GPUs x ops)^exponent, least squares on log-log over the sizes above that ran\n");
    fmt::print("{:<10} {:<9} {:>6} {:>9}\n", "engine", "cluster", "sizes", "exponent");
  }
  for (const auto& [key, points] : growth) {
    if (points.size() < 2) continue;
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (const auto& [x, y] : points) {
      const double lx = std::log(x), ly = std::log(std::max(y, 1e-6));
      sx += lx, sy += ly, sxx += lx * lx, sxy += lx * ly;
    }
    const double n = static_cast<double>(points.size());
    const double exponent = (n * sxy - sx * sy) / (n * sxx - sx * sx);
    if (json_) all.push_back({{"growth", key.first}, {"cluster", key.second}, {"sizes", points.size()}, {"exponent", exponent}});
    else fmt::print("{:<10} {:<9} {:>6} {:>9.2f}\n", key.first, key.second, points.size(), exponent);
  }
}

namespace {

// Runs of a command whose target is 1 s or less (the median is reported).
constexpr int SHORT_COMMAND_RUNS = 7;

struct CommandCase {
  const char* label;
  std::vector<std::string> args;
  const char* engine;     // needed in this build
  double target_s;        // the 2-core VM target (docs/engines.md, "Speed")
  double target_MiB;      // 0: none
};

const CommandCase COMMAND_CASES[] = {
    {"simulate default, phase", {"simulate"}, "phase", 1.0, 0},
    {"simulate default, analytical", {"simulate", "--engine", "analytical"}, "analytical", 0.3, 0},
    {"compare default, analytical", {"compare", "--engine", "analytical"}, "analytical", 5.0, 0},
    {"compare default, phase", {"compare"}, "phase", 20.0, 0},
    {"simulate 10240 fixed:4, phase", {"simulate", "fat-tree-10240", "--partition", "fixed:4"}, "phase", 10.0, 1024.0},
    {"simulate default, flow", {"simulate", "--engine", "flow"}, "flow", 60.0, 0},
};

}  // namespace

void BenchCommand::command_table(nlohmann::json& all) const {
  if (!json_) {
    fmt::print("\n# Whole commands as a user runs them (this executable, output discarded); each stopped at\n");
    fmt::print("# min(--timeout, max(4 x target, 30 s)). Commands with a target of 1 s or less run {} times: wall is\n",
               SHORT_COMMAND_RUNS);
    fmt::print("# their median, spread their min-max (one run of a sub-second command moves by 20-30% on a shared VM).\n");
    fmt::print("# ratio = wall / target (<= 1 meets it); peak_rss: the command's own process (the largest run's)\n");
    fmt::print("{:<32} {:>9} {:>8} {:>7} {:>9} {:>10} {:>13}\n", "command", "wall", "target", "ratio", "peak_rss", "rss_target", "spread");
    fmt::print("{:<32} {:>9} {:>8} {:>7} {:>9} {:>10} {:>13}\n", "#", "s", "s", "", "MiB", "MiB", "s");
  }
  const std::vector<std::string> built = available_engines();
  for (const CommandCase& c : COMMAND_CASES) {
    if (std::find(built.begin(), built.end(), c.engine) == built.end()) continue;
    const double limit_s = std::min(timeout_s_, std::max(4.0 * c.target_s, 30.0));
    const int runs = c.target_s <= 1.0 ? SHORT_COMMAND_RUNS : 1;
    std::vector<double> walls;
    CommandTiming t;
    for (int run = 0; run < runs; ++run) {
      const CommandTiming one = time_command(c.args, limit_s);
      walls.push_back(one.wall_s);
      t.peak_rss_MiB = std::max(t.peak_rss_MiB, one.peak_rss_MiB);
      t.exit_code = one.exit_code;
      if (one.exit_code != 0) break;  // a failing or stopped run is reported as such
    }
    std::sort(walls.begin(), walls.end());
    t.wall_s = t.exit_code == 0 ? walls[walls.size() / 2] : walls.back();
    const std::string spread = walls.size() > 1 ? fmt::format("{:.2f}-{:.2f}", walls.front(), walls.back()) : "-";
    nlohmann::json j{{"command", c.label}, {"args", c.args}, {"wall_s", t.wall_s}, {"wall_s_runs", walls}, {"target_s", c.target_s},
                     {"peak_rss_MiB", t.peak_rss_MiB}, {"exit_code", t.exit_code}};
    if (c.target_MiB > 0) j["target_MiB"] = c.target_MiB;
    if (json_) {
      all.push_back(j);
      continue;
    }
    if (t.exit_code != 0) {
      fmt::print("{:<32} {}\n", c.label,
                 t.exit_code < 0 ? fmt::format("stopped after {:.1f} s (target {:.1f} s)", t.wall_s, c.target_s)
                                 : fmt::format("exited {}", t.exit_code));
    } else {
      fmt::print("{:<32} {:>9.2f} {:>8.1f} {:>7.2f} {:>9.1f} {:>10} {:>13}\n", c.label, t.wall_s, c.target_s, t.wall_s / c.target_s,
                 t.peak_rss_MiB, c.target_MiB > 0 ? fmt::format("{:.0f}", c.target_MiB) : "-", spread);
    }
    std::fflush(stdout);
  }
  // The flow engine on one all-to-all of 1024 single-GPU nodes (target 60 s, like the default).
  if (std::find(built.begin(), built.end(), "flow") == built.end()) return;
  nlohmann::json j;
  try {
    j = run_in_child("one all-to-all", [&] { return measure_single_all_to_all("flow", std::min(timeout_s_, 240.0)); });
  } catch (const std::exception& error) {
    j = {{"command", "one all-to-all, 1024x1 GPUs, flow"}, {"error", error.what()}};
  }
  j["target_s"] = 60.0;
  if (json_) {
    all.push_back(j);
  } else if (j.contains("error")) {
    fmt::print("{:<32} {}\n", "one a2a 1024x1 nodes, flow", j["error"].get<std::string>());
  } else {
    fmt::print("{:<32} {:>9.2f} {:>8.1f} {:>7.2f} {:>9} {:>10}   ({} transfers, all-to-all {:.3f} ms)\n",
               "one a2a 1024x1 nodes, flow", j["wall_s"].get<double>(), 60.0, j["wall_s"].get<double>() / 60.0, "-", "-",
               j["transfers"].get<long>(), j["all_to_all_s"].get<double>() * 1e3);
  }
}

}  // namespace comet
