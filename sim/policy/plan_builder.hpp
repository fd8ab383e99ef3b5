// PlanBuilder: Scenario + policies -> Plan. The one place that turns routing, placement,
// partition and all-to-all algorithm into ops and dependencies, for every executor.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "a2a_footprint.hpp"
#include "cost_model.hpp"
#include "expert_placement.hpp"
#include "partition_policies.hpp"
#include "path_costs.hpp"
#include "plan.hpp"
#include "policy_spec.hpp"
#include "routing_matrix.hpp"
#include "scenario.hpp"
#include "timeline.hpp"
#include "topology.hpp"

namespace comet {


/// The routing a Plan is built from: each step's, and what fitted placements see.
class PlanRouting {
 public:
  PlanRouting() = default;
  /// `steps` routed; `fit` makes the fit steps' sum on first use.
  PlanRouting(std::vector<RoutingMatrix> steps, std::function<RoutingMatrix()> fit);

  std::vector<RoutingMatrix> steps;  ///< per step
  /// The fit steps' sum (Workload::placement_routing), made on the first call (thread-safe): only
  /// the fitted placements read it, and generating its steps was a tenth of `comet simulate`'s time.
  const RoutingMatrix& expected() const;

 private:
  struct Fit {
    std::function<RoutingMatrix()> make;
    std::once_flag once;
    RoutingMatrix sum;
  };
  std::shared_ptr<Fit> fit_;  // shared by copies, which see one sum
};

/// Generates (or reads from its trace) `steps` steps of `scenario`'s workload on `num_gpus` GPUs.
/// Plans of one scenario share it: the workload is most of a Plan's build time.
PlanRouting route_workload(const Scenario& scenario, int num_gpus, int steps);

struct PlanRequest {
  const Scenario* scenario = nullptr;
  const Topology* topology = nullptr;
  const PathCosts* costs = nullptr;
  const CostModel* cost_model = nullptr;
  PolicySpec placement;
  PolicySpec partition;
  PolicySpec a2a;
  int layers = 1;  ///< MoE layers in the plan
  int steps = 1;   ///< training steps (forward + backward each); at most the scenario's steps
  bool keep_chunks = false;  ///< keep each step's ChunkPlan in BuiltPlan (the real executor needs them)
  /// route_workload(*scenario, GPUs, steps), when the caller has it; else build_plan makes it.
  const PlanRouting* routing = nullptr;
  /// The placement `placement` names (make_plan_placement), when the caller made it; else
  /// build_plan makes it.
  const ExpertPlacement* made_placement = nullptr;
};

/// The placement `placement` names for the scenario on the topology, fitted (where it is fitted)
/// on `routing`'s fit steps. InputError when the scenario cannot hold it (replicate:R with R
/// above the group).
ExpertPlacement make_plan_placement(const Scenario& scenario, const Topology& topology, const PathCosts& costs,
                                    const PolicySpec& placement, const PlanRouting& routing);

struct BuiltPlan {
  Plan plan;
  ExpertPlacement placement;
  std::vector<RoutingMatrix> routing;            ///< per step
  std::vector<std::string> partition_choices;    ///< per step: what the partition policy chose
  std::vector<ChunkPlan> chunks;                  ///< per step, when asked: the chunks the ops came from
  /// The analytical engine's run of `plan` with its default options, when building it ran one
  /// (`dynamic`'s choice with one layer and step, where all-to-alls are not paced): the very
  /// Timeline AnalyticalEngine().run(plan) returns, so simulating it need not run it again.
  std::optional<Timeline> analytical_run;
};

/// Generates the workload, places experts from the expected (summed) routing, partitions each
/// step's tokens and emits forward then backward ops for every layer and step.
/// Throws InputError for policies the scenario cannot satisfy (named as on the command line).
BuiltPlan build_plan(const PlanRequest& request);

/// What `dynamic`'s pricers of one step share: the whole exchange's pacing profiles (paced
/// networks), and the cheapest run of a whole candidate Plan with the engine's default options.
struct DynamicPricing {
  PacingProfiles pacing;
  std::mutex mutex;
  std::uint64_t cheapest_plan_hash = 0;  ///< Plan::stable_hash of cheapest_run's Plan
  std::optional<Timeline> cheapest_run;
};

/// `dynamic`'s pricers for one step of `request` (PartitionInputs: layer_time_s, group_times_s with
/// part_of_group, and rough_layer_time_s where all-to-alls are not paced): the analytical engine
/// on one-layer Plans of `routing`, emitted by the same code as the real Plan. On a network where
/// all-to-alls are paced, the whole exchange's pacing profiles, simulated once here into `shared`,
/// serve every candidate's chunks of the same shape (read only: candidates priced side by side
/// stay deterministic; without, each candidate simulated its own: the 256-GPU tree's dynamic took
/// 3.1 s instead of 1.1). The request, placement, routing, `shared` and `in` must outlive the pricers.
void add_dynamic_pricers(const PlanRequest& request, const ExpertPlacement& placement, const RoutingMatrix& routing,
                         DynamicPricing& shared, PartitionInputs& in);

/// FLOPs of the attention block of one MoE layer for one token, forward: attention projections
/// and attention over `sequence_length` (causal).
double attention_flops_per_token(const MoeModel& model, int sequence_length);
/// FLOPs of the shared (always-active) experts for one token, forward.
double shared_expert_flops_per_token(const MoeModel& model);

}  // namespace comet
