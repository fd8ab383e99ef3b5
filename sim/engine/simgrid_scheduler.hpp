// The part of the SimGrid engines that is not about the network: runs a Plan's ops in
// dependency order inside a SimGrid simulation. Computations are ComputeStreams (as in the
// analytical engine) ending on SimGrid timers. All-to-alls are handed to the engine, which tells
// the scheduler when they are done.
//
// Why timers and not SimGrid executions: L07's bottleneck solver re-solves the whole max-min
// system at every event, in rounds; ~30K GEMMs on 1024 GPU resources made one layer take 28 s.
// And why ops start from completion callbacks rather than SimGrid dependencies: with everything
// started up front, SimGrid 3.32 scans one list of all pending activities at each completion.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "compute_streams.hpp"
#include "cost_model.hpp"
#include "plan.hpp"

namespace comet {

class OpScheduler {
 public:
  /// `start_all_to_all(op)` must start the op's communication and later call
  /// all_to_all_done(op) once, from a SimGrid callback.
  OpScheduler(const Plan& plan, const CostModel& model, std::vector<double> compute_s,
              std::function<void(std::int32_t)> start_all_to_all);

  /// Starts the ops without dependencies (only those `included`, when it is not empty: a part of
  /// the plan closed under dependencies); then run the SimGrid engine.
  void start(const std::vector<bool>& included = {});
  /// Marks the GPUs of a running all-to-all (for the SM-share slowdown of computations).
  void communication_begins(const std::vector<std::int32_t>& gpus);
  void all_to_all_done(std::int32_t op, const std::vector<std::int32_t>& gpus);
  /// Seconds of computation still to run now on the busiest of these GPUs.
  double compute_left_s(const std::vector<std::int32_t>& gpus) const;
  /// start_s and end_s of every op, interleaved, for the parent process.
  const std::vector<double>& times() const { return times_; }

 private:
  void start_op(std::int32_t id);
  void finish(std::int32_t id);

  const Plan& plan_;
  std::vector<double> compute_s_;
  std::function<void(std::int32_t)> start_all_to_all_;
  std::vector<double> times_;
  Successors successors_;
  std::vector<int> pending_;
  ComputeStreams streams_;
};

}  // namespace comet
