// `comet validate` without the terminal: builds each partition policy's Plan with the
// simulator's code, runs them all on the local GPUs, checks numerics (every policy against
// `none`, and `none` against a CPU fp32 reference when small enough) and summarises each run.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cost_model.hpp"
#include "metrics.hpp"
#include "numerics.hpp"
#include "path_costs.hpp"
#include "policy_spec.hpp"
#include "prediction.hpp"
#include "real_executor.hpp"
#include "scenario.hpp"
#include "topology.hpp"

namespace comet {

struct ValidationRequest {
  const Scenario* scenario = nullptr;
  const Topology* topology = nullptr;
  const PathCosts* costs = nullptr;
  const CostModel* cost_model = nullptr;   ///< what the Plans are built with (dynamic prices its chunks with it)
  /// When set, each measured Plan is also run on the analytical engine with this cost model and
  /// compared op class by op class (PolicyReport::prediction).
  const CostModel* predict_with = nullptr;
  std::string scenario_text;               ///< the scenario's YAML, recorded in the measured JSON
  std::vector<std::pair<std::string, std::string>> provenance;  ///< recorded in the measured JSON
  PolicySpec placement;
  std::vector<PolicySpec> partitions;  ///< `none` is added first when missing: it is the reference
  RealRunOptions options;
  double cpu_reference_limit = 4e9;    ///< multiply-adds above which the CPU reference is skipped
};

struct PolicyReport {
  std::string partition;
  std::string choice;                    ///< what the partition policy chose
  std::uint64_t plan_hash = 0;           ///< Plan::stable_hash of the Plan that ran
  Timeline timeline;
  std::vector<double> layer_time_samples_s;  ///< per timed repeat
  std::optional<PredictionComparison> prediction;  ///< analytical engine against the measurement
  Metrics metrics;
  std::array<double, NUM_OP_KINDS> busy_s{};  ///< per op kind, busy time on the critical GPU (all-to-all: its group)
  double overlap_efficiency = 0.0;       ///< (T_none - T) / (T_none - max(T_comm, T_compute)) of `none`; NaN without communication
  std::string same_plan_as;              ///< a policy listed earlier whose Plan this is (measured once, for both)
  /// Relative L2 and largest per-row error of output, input gradient and weight gradients.
  NumericsError error_vs_none{NAN, NAN};
  NumericsError error_vs_cpu{NAN, NAN};  ///< `none` only, when cpu_checked
  bool cpu_checked = false;
  bool pass = false;
};

/// Throws InputError when the scenario does not fit this machine (GPUs, one EP group, replicas)
/// and GpuError when the GPUs fail. Under MPI only rank 0 gets the reports (the others: none).
std::vector<PolicyReport> validate_policies(const ValidationRequest& request);

/// The measured JSON (`-o`; docs/file-formats.md, "Measured timelines"): what ran, where, every
/// policy's Timeline and samples, and what `comet validate --measured` needs to rebuild the Plans
/// (scenario text, planning cost model, plan fingerprints).
nlohmann::ordered_json validation_json(const ValidationRequest& request, const std::vector<PolicyReport>& reports);

}  // namespace comet
