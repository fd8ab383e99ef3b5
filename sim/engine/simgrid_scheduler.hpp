// The part of the SimGrid engines that is not about the network: runs a Plan's ops in
// dependency order inside a SimGrid simulation. Computations are ComputeStreams (as in the
// analytical engine) ending on SimGrid timers. All-to-alls are handed to the engine, which tells
// the scheduler when each GPU's part of one is done (DependencyRelease) and when the op is.
// Streaming dependencies (fused policies) as in the analytical engine: a consumer starts with its
// producer and ends no earlier than the producer's end plus its streaming tail; a computation
// that reaches its end first is held on its stream (ComputeStreams::set_end), an all-to-all's
// parts and end reported before then are kept and replayed at that time.
//
// Why timers and not SimGrid executions: L07's bottleneck solver re-solves the whole max-min
// system at every event, in rounds; ~30K GEMMs on 1024 GPU resources made one layer take 28 s.
// And why ops start from completion callbacks rather than SimGrid dependencies: with everything
// started up front, SimGrid 3.32 scans one list of all pending activities at each completion.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "compute_streams.hpp"
#include "cost_model.hpp"
#include "dependency_release.hpp"
#include "stream_floors.hpp"
#include "plan.hpp"
#include "timeline.hpp"

namespace comet {

class OpScheduler {
 public:
  /// `start_all_to_all(op)` must start the op's communication and later call part_done(op, g)
  /// for each of its GPUs, or none, then all_to_all_done(op) once, from SimGrid callbacks.
  /// `slow_transfers(gpu, slowed)` is called whenever a GPU starts or stops slowing its own
  /// transfers (transfer_slowdown.hpp): the engine changes its edge links' capacity.
  OpScheduler(const Plan& plan, const CostModel& model, std::vector<double> compute_s,
              std::function<void(std::int32_t)> start_all_to_all,
              std::function<void(std::int32_t, bool)> slow_transfers);

  /// Starts the ops without dependencies (only those `included`, when it is not empty: a part of
  /// the plan closed under dependencies); then run the SimGrid engine.
  void start(const std::vector<bool>& included = {});
  /// Marks the GPUs of a running all-to-all (for the SM-share slowdown of computations).
  void communication_begins(std::span<const std::int32_t> gpus);
  /// GPU `gpu`'s part of all-to-all `op` ended now.
  void part_done(std::int32_t op, std::int32_t gpu);
  /// All-to-all `op` over the sorted `gpus` ended now (and with it every part not reported).
  void all_to_all_done(std::int32_t op, std::span<const std::int32_t> gpus);
  /// The ops' times for the parent process: start_s and end_s of every op interleaved, then for
  /// each all-to-all whose parts were reported, in op order: its id, its number of parts, and
  /// (gpu, end_s) per part.
  std::vector<double> times() const;

 private:
  void start_op(std::int32_t id);
  /// Computation `id`'s timer fired: it ends, unless a streaming producer holds it.
  void reached_end(std::int32_t id);
  void finish(std::int32_t id);
  void set_end(std::int32_t id, double end_s);
  /// Starts what streams from `id` (at its actual start: arm_start when it is queued).
  void release_streamers(std::int32_t id);
  void arm_start(std::int32_t id, double start_s);
  /// The ops whose last streaming producer just ended may end a tail from now.
  void handle_stream_ends();
  /// Whether all-to-all `op` must keep its parts and end: it streams from producers not ended a tail ago.
  bool gated(std::int32_t op) const;
  /// Replays the parts and end of streaming all-to-all `op` kept while it was gated.
  void replay(std::int32_t op);
  void end_part(std::int32_t op, std::int32_t gpu);
  void end_all_to_all(std::int32_t op, std::span<const std::int32_t> gpus);
  void start_ready();
  /// Arms the timer ending computation `id` at `end_s` (earlier timers of it are ignored).
  void arm(std::int32_t id, double end_s);
  void apply_retimed();
  /// After an event on `gpu`: tells the engine if its transfers became slowed or no longer are.
  void refresh_slowdown(std::int32_t gpu);

  const Plan& plan_;
  std::vector<double> compute_s_;
  std::function<void(std::int32_t)> start_all_to_all_;
  std::function<void(std::int32_t, bool)> slow_transfers_;
  std::vector<double> times_;
  std::vector<std::vector<GpuPartEnd>> parts_;
  DependencyRelease release_;
  std::vector<std::int32_t> ready_;
  std::vector<Retimed> retimed_;
  std::vector<std::uint64_t> timer_version_;
  ComputeStreams streams_;
  std::vector<char> scheduled_;         ///< computations scheduled on their streams
  StreamFloors floors_;
  std::vector<std::uint64_t> start_version_;  ///< queued computations streamed from: their start timer (0: none)
  std::uint64_t start_timers_ = 0;
  struct Kept {                         ///< what a gated all-to-all reported: parts, then maybe its end
    std::vector<std::int32_t> parts;
    bool done = false;
    std::vector<std::int32_t> gpus;
  };
  std::vector<Kept> kept_;              ///< per op (empty for a plan without streaming)
};

/// Writes times() of a scheduler (run over the ops `included`, or all when empty) into `timeline`.
void apply_times(const std::vector<double>& times, const std::vector<bool>& included, Timeline& timeline);

}  // namespace comet
