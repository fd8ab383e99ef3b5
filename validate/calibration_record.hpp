// The measurements behind a calibration, as JSON (`comet calibrate --runs FILE`): every
// calibration Plan's scenario text, token load, partition, plan fingerprint and measured
// Timeline, with the provenance of the machine. `comet calibrate --fit-runs FILE` rebuilds the
// Plans from it and fits again on any machine: a fit can be improved without the GPU.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "calibration_fit.hpp"
#include "plan_builder.hpp"
#include "scenario.hpp"
#include "timeline.hpp"
#include "topology_builders.hpp"

namespace comet {

inline const std::string CALIBRATION_RUNS_FORMAT = "comet-calibration-runs/1";

/// `base` at `tokens` per GPU, one step, uniform routing: the calibration Plans' scenario.
Scenario calibration_scenario(Scenario base, std::int64_t tokens);

/// A calibration scenario with what its Plans point to (they must outlive the Plans).
struct CalibrationLoad {
  explicit CalibrationLoad(Scenario s) : scenario(std::move(s)), topology(build_topology(scenario.topology)), costs(topology) {}
  Scenario scenario;
  Topology topology;
  PathCosts costs;
};
/// The partition of a calibration Plan cut into `chunks` equal chunks: none for 1, else fixed:K.
std::string chunked_partition(int chunks);
/// The calibration Plan of `scenario` with `partition` (none, fixed:K, or comet:B: the fused
/// kernels, one chunk).
BuiltPlan calibration_plan(const Scenario& scenario, const Topology& topology, const PathCosts& costs, const CostModel& model,
                           const std::string& partition);

/// One measured calibration Plan.
struct RecordedRun {
  std::string scenario_yaml;  ///< the base scenario as given
  std::string origin;         ///< where it came from (file name)
  std::int64_t tokens = 0;
  std::string partition = "none";  ///< none, fixed:K or comet:B
  std::uint64_t plan_hash = 0;
  Timeline timeline;
};

nlohmann::ordered_json calibration_runs_json(const std::vector<RecordedRun>& runs,
                                             const std::vector<std::pair<std::string, std::string>>& provenance);

/// Rebuilds every recorded Plan (an InputError naming the run when its fingerprint differs) and
/// fits them on top of the datasheet defaults of their GPU; the fit's provenance is the record's.
CalibrationFit fit_recorded_runs(const std::string& path);

}  // namespace comet
