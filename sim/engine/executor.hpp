// The executor interface: run(plan, topology, cost model) -> Timeline, the same for every
// engine (analytical, SimGrid phase / flow / packet, and the real GPUs of validate/).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cost_model.hpp"
#include "plan.hpp"
#include "timeline.hpp"
#include "topology.hpp"

namespace comet {

class Executor {
 public:
  virtual ~Executor() = default;
  virtual std::string name() const = 0;
  virtual Timeline run(const Plan& plan, const Topology& topology, const CostModel& model) = 0;
};

/// Engine names this build has ("analytical", and "phase", "flow", "packet" with SimGrid).
std::vector<std::string> available_engines();
/// The engine of that name; throws InputError (naming `--engine`) when unknown or not built.
std::unique_ptr<Executor> make_executor(const std::string& name);
/// What a user must know about `engine`'s figures on `topology`, or "" when nothing: where all-to-alls
/// are not paced (pacing_applies(), a2a_footprint.hpp), the in-step engines (phase, analytical) are a
/// lower bound of all-to-all time on oversubscribed networks (docs/engines.md, "Which engine is
/// wrong where they part").
std::string engine_caveat(const std::string& engine, const Topology& topology);

}  // namespace comet
