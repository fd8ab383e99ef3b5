// The routing workload a scenario asks for: how many tokens each GPU routes per step and how
// they choose experts. The generators themselves live in workload.hpp (policies issue); this
// is the validated description.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "yaml_input.hpp"

namespace comet {

enum class RoutingKind { UNIFORM, ZIPF, HOT_EXPERTS, HOT_RANK, AFFINITY, ROTATING, BURST, TRACE };
std::string_view to_string(RoutingKind kind);

/// Parameters of every routing kind; only those of `kind` are meaningful.
struct RoutingSpec {
  RoutingKind kind = RoutingKind::UNIFORM;
  double alpha = 1.0;          ///< zipf: popularity of expert rank r is proportional to r^-alpha
  int hot_experts = 1;         ///< hot-experts, rotating: size of the hot set
  double hot_share = 0.5;      ///< hot-experts, rotating: share of token copies the hot set takes
  int hot_rank = 0;            ///< hot-rank: the source GPU that sends more
  double factor = 2.0;         ///< hot-rank: tokens multiple; burst: load multiple in a burst
  int groups = 2;              ///< affinity: groups of source GPUs (and of experts)
  double strength = 0.8;       ///< affinity: share of a group's copies to its own expert subset
  int period = 1;              ///< rotating: steps before the hot set moves
  double probability = 0.1;    ///< burst: chance that a step is a burst
  std::filesystem::path trace; ///< trace: CSV file step,src_gpu,expert,tokens
};

struct WorkloadSpec {
  std::int64_t tokens_per_gpu = 4096;  ///< tokens each GPU routes per step (before top-k)
  int steps = 1;
  /// Steps of routing seen before the run that fitted placements (topology, bottleneck,
  /// replicate) are fitted on; the run's steps score them. 0: fit on the scored steps themselves
  /// (foresight no real system has). A trace holds its fit steps first.
  int placement_fit_steps = 1;
  std::uint64_t seed = 1;
  int sequence_length = 4096;          ///< tokens per sequence, for attention flops
  RoutingSpec routing;
};

/// Reads a `workload:` mapping; relative trace paths resolve against `base_dir`.
WorkloadSpec parse_workload(const YamlValue& value, const std::filesystem::path& base_dir);

}  // namespace comet
