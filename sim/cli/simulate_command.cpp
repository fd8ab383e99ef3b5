#include "simulate_command.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <chrono>

#include "atomic_file.hpp"
#include "executor.hpp"
#include "scenario_argument.hpp"
#include "simulation.hpp"
#include "topology_builders.hpp"
#include "units.hpp"

namespace comet {

void SimulateCommand::add_to(CLI::App& app) {
  app_ = app.add_subcommand("simulate", "Simulate one MoE layer's forward and backward on the cluster under one "
                                        "policy triple; report layer time, overlap, traffic and speedup");
  app_->add_option("scenario", file_, "Scenario file, or a shipped scenario's name (default: the built-in 1024-GPU scenario)");
  engine_.add_to(*app_);
  policies_.add_to(*app_);
  app_->add_option("--timeline", timeline_, "Also write the Timeline (every op's start and end) as JSON to this file");
  app_->add_flag("--json", json_, "Print one JSON object instead of the table");
}

int SimulateCommand::run() const {
  const bool progress = ::isatty(2) != 0;
  const Scenario scenario = load_scenario_argument(file_);
  const Topology topology = build_topology(scenario.topology);
  const PathCosts costs(topology);
  const CostModel cost_model = engine_.cost_model(scenario);
  const std::string engine = engine_.engine_name();
  const SimulationSetup setup{&scenario, &topology, &costs, &cost_model, engine, engine_.layers, engine_.steps};
  const PolicyTriple policies = policies_.resolve(scenario);
  const auto start = std::chrono::steady_clock::now();
  if (progress) fmt::print(stderr, "comet: simulating {} / {} / {} and the baseline contiguous / none / direct on {} ...\n",
                           policies.placement.text(), policies.partition.text(), policies.a2a.text(), engine);
  const ResultWithBaseline run = simulate_with_baseline(setup, policies);
  const SimulationResult& result = run.result;
  const double baseline_time = run.baseline_layer_time_s;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!timeline_.empty()) write_file_atomically(timeline_, timeline_to_json(result.timeline).dump() + "\n");
  if (json_) {
    fmt::print("{}\n", result_json(setup, result, baseline_time).dump(2));
    return 0;
  }
  const Metrics& m = result.metrics;
  fmt::print("# comet simulate {}\n", file_.empty() ? "<built-in default scenario>" : file_);
  fmt::print("# scenario {}  topology {} ({} GPUs)  model {}  EP {}  tokens/GPU {}  routing {}\n", scenario.name,
             scenario.topology.name, topology.num_gpus(), scenario.model.preset, scenario.expert_parallel,
             scenario.workload.tokens_per_gpu, to_string(scenario.workload.routing.kind));
  fmt::print("# engine {}  placement {}  partition {} ({})  a2a {}  layers {}  steps {}  cost model {}\n", engine,
             policies.placement.text(), policies.partition.text(), result.partition_choice, policies.a2a.text(),
             engine_.layers, engine_.steps, engine_.cost_model_label(cost_model));
  fmt::print("# rows: critical GPU {} (its compute, its group's all-to-all); time = the critical path's, which is\n"
             "# compute + exposed + imbalance (waiting for a more loaded GPU's computation)\n",
             m.critical_gpu);
  fmt::print("{:>4} {:>5} {:<9} {:>10} {:>10} {:>10} {:>10} {:>10}\n", "step", "layer", "direction", "time", "compute", "comm",
             "exposed", "imbalance");
  fmt::print("{:>4} {:>5} {:<9} {:>10} {:>10} {:>10} {:>10} {:>10}\n", "#", "", "", "ms", "ms", "ms", "ms", "ms");
  for (const PhaseRow& row : result.rows)
    fmt::print("{:>4} {:>5} {:<9} {:>10.3f} {:>10.3f} {:>10.3f} {:>10.3f} {:>10.3f}\n", row.step, row.layer,
               to_string(row.direction), row.span_s * 1e3, row.compute_s * 1e3, row.comm_s * 1e3, row.exposed_s * 1e3,
               row.imbalance_s * 1e3);
  fmt::print("\nlayer time            {:.3f} ms (forward + backward, per layer)\n", m.layer_time_s * 1e3);
  fmt::print("compute / comm        {:.3f} / {:.3f} ms on the critical GPU\n", m.compute_s * 1e3, m.comm_s * 1e3);
  fmt::print("exposed comm          {:.3f} ms, overlap ratio {:.3f}, GPU idle {:.1f}%\n", m.exposed_comm_s * 1e3,
             m.overlap_ratio, 100 * m.idle_fraction);
  fmt::print("critical path         compute {:.3f} ms, all-to-all {:.3f} ms, imbalance {:.3f} ms ({} ops; --json lists them)\n",
             m.critical_path.compute_s * 1e3, m.critical_path.all_to_all_s * 1e3, m.critical_path.imbalance_s * 1e3,
             m.critical_path.steps.size());
  fmt::print("bytes by tier         intra_node {}, leaf {}, spine {}, core {}\n",
             format_quantity(m.bytes_by_tier[0], Dimension::BYTES), format_quantity(m.bytes_by_tier[1], Dimension::BYTES),
             format_quantity(m.bytes_by_tier[2], Dimension::BYTES), format_quantity(m.bytes_by_tier[3], Dimension::BYTES));
  fmt::print("most loaded link      {} ({}, utilisation of its effective bandwidth {:.1f}% over the run, {:.1f}% while busy)\n",
             m.max_link,
             format_quantity(m.max_link_bytes, Dimension::BYTES), 100 * m.max_link_mean_utilization,
             100 * m.max_link_busy_utilization);
  if (const std::string caveat = engine_caveat(engine, topology); !caveat.empty())
    fmt::print("engine caveat         {}\n", caveat);
  fmt::print("speedup vs baseline   {:.3f}x (contiguous / none / direct: {:.3f} ms)\n",
             m.layer_time_s > 0 ? baseline_time / m.layer_time_s : 1.0, baseline_time * 1e3);
  fmt::print("wall                  {:.2f} s\n", wall);
  return 0;
}

}  // namespace comet
