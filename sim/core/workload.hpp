// Routing workload generators: one RoutingMatrix per step, seeded so that the same scenario and
// seed give the same matrix, byte for byte. Every layer of a step shares the step's routing.
//
// Each source GPU routes `tokens` tokens to `top_k` distinct experts. Copies per expert are drawn
// as a multinomial over the kind's expert probabilities, with each probability capped at 1/top_k
// (a token picks an expert at most once), so no expert receives more copies from a source than
// that source has tokens.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "routing_matrix.hpp"
#include "workload_spec.hpp"

namespace comet {

struct RoutingShape {
  int num_gpus = 0;
  int expert_parallel = 1;  ///< sources are grouped for `affinity` by their position in the group
  int num_experts = 0;
  int top_k = 1;
};

class Workload {
 public:
  /// Reads the trace file for `trace` workloads (throws InputError naming file and line).
  Workload(const WorkloadSpec& spec, const RoutingShape& shape);

  /// The routing of step `step` (0-based, < num_steps()).
  RoutingMatrix sample(int step) const;
  int num_steps() const { return spec_.steps; }
  /// The routing of fit step `i` (0-based, < num_fit_steps()): the steps before step 0 (generated:
  /// the same process at steps -W .. -1; a trace: its first W steps).
  RoutingMatrix fit_sample(int i) const;
  int num_fit_steps() const { return spec_.placement_fit_steps; }
  /// What fitted placements see: the sum of the fit steps, or of the first `scored_steps` scored
  /// steps when there are none (placement_fit_steps 0).
  RoutingMatrix placement_routing(int scored_steps) const;
  const RoutingShape& shape() const { return shape_; }

 private:
  RoutingMatrix generate(int step) const;  // any step, negative ones included (not traces)
  std::vector<double> expert_probabilities(int step, int src) const;
  std::int64_t tokens_of(int step, int src) const;

  WorkloadSpec spec_;
  RoutingShape shape_;
  std::vector<int> expert_order_;         // seeded permutation: popularity rank -> expert
  std::vector<RoutingMatrix> trace_steps_;  // for trace workloads
};

/// Reads a trace CSV (header `step,src_gpu,expert,tokens`). Steps must be 0..S-1, GPUs must
/// cover exactly 0..num_gpus-1, experts be < num_experts. Throws InputError with file:line.
std::vector<RoutingMatrix> read_trace_csv(const std::filesystem::path& path, const RoutingShape& shape);

/// Writes steps as a trace CSV (only non-zero entries), atomically.
void write_trace_csv(const std::filesystem::path& path, const std::vector<RoutingMatrix>& steps);

}  // namespace comet
