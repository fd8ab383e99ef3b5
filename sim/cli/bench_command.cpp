#include "bench_command.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <thread>

#include "bisection.hpp"
#include "builtin_files.hpp"
#include "input_error.hpp"
#include "path_costs.hpp"
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
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe() failed");
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork() failed");
  if (pid == 0) {
    ::close(fds[0]);
    int code = 0;
    std::string text;
    try {
      text = work().dump();
    } catch (const std::exception& error) {
      text = nlohmann::json{{"error", error.what()}}.dump();
      code = 1;
    }
    const ssize_t written = ::write(fds[1], text.data(), text.size());
    ::_exit(written == static_cast<ssize_t>(text.size()) ? code : 1);
  }
  ::close(fds[1]);
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  rusage usage{};
  ::wait4(pid, &status, 0, &usage);
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || j.contains("error"))
    throw std::runtime_error(fmt::format("benchmark of {} failed: {}", label, j.is_discarded() ? text : j["error"].get<std::string>()));
  j["peak_rss_MiB"] = static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
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
  const CostModel cost_model = CostModel::defaults_for(scenario.topology.node.gpu_model);
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

}  // namespace

void BenchCommand::add_to(CLI::App& app) {
  app_ = app.add_subcommand("bench", "Benchmark: time and peak memory to build each shipped topology "
                                     "and compute all-pairs path costs");
  app_->add_option("--topologies", topologies_, "Shipped topology names (default: all)")->delimiter(',');
  app_->add_flag("--json", json_, "Print a JSON array instead of the table");
}

int BenchCommand::run() const {
  std::vector<std::string> names = topologies_;
  if (names.empty())
    for (const BuiltinFile& file : builtin_topologies()) names.emplace_back(file.name);
  for (const std::string& name : names)
    if (!find_builtin_topology(name))
      throw InputError({"<command line>", 0, 0}, "--topologies", name, "not a shipped topology");

  nlohmann::json all = nlohmann::json::array();
  if (!json_) {
    char host[256] = "?";
    ::gethostname(host, sizeof host - 1);
    fmt::print("# comet bench: build each shipped topology (graph + routing tables), path costs for all GPU pairs,\n");
    fmt::print("# and bisection max-flow; one child process per topology (peak RSS is the child's).\n");
    fmt::print("# host {}, {} hardware threads\n", host, std::thread::hardware_concurrency());
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
  if (!json_) {
    fmt::print("\n# Plan: {} (default scenario: fat-tree-1024, deepseek-v3, 4096 tokens/GPU, EP 256, DP 4), one layer\n",
               "workload + placement + partition + forward/backward Plan");
    fmt::print("# setup = parse + topology + path costs; plan = build_plan(); peak RSS of the whole child\n");
    fmt::print("{:<11} {:<9} {:<13} {:>8} {:>8} {:>8} {:>9} {:>9}\n", "placement", "partition", "a2a", "setup", "plan",
               "ops", "plan_mem", "peak_rss");
    fmt::print("{:<11} {:<9} {:<13} {:>8} {:>8} {:>8} {:>9} {:>9}\n", "#", "", "", "s", "s", "count", "MiB", "MiB");
  }
  for (const PlanBenchCase& c : PLAN_CASES) {
    if (!topologies_.empty()) break;  // --topologies selects the topology table only
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
  if (json_) fmt::print("{}\n", all.dump(2));
  return 0;
}

}  // namespace comet
