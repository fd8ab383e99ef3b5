// The Timeline: what an executor did with a Plan. Every op with its start and end, and the bytes
// each directed link carried. Simulated and measured timelines share this schema, so "predicted
// vs measured" is a join on op ids (DESIGN.md).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "plan.hpp"

namespace comet {

struct TimelineOp {
  std::int32_t op = 0;
  OpKind kind = OpKind::NON_MOE;
  std::int32_t gpu = -1;   ///< compute ops; -1 for all-to-all
  std::int32_t group = 0;  ///< expert-parallel group
  OpTags tags;
  double start_s = 0.0;
  double end_s = 0.0;
  double flops = 0.0;
  double bytes = 0.0;      ///< all-to-all: bytes moved; memory ops: bytes read + written
  /// Its end was its streaming producers' end plus its streaming tail (Plan::add's `streaming`):
  /// it waited for them, not they for it (the critical path walks through them then).
  bool ended_by_stream = false;
  /// Such a computation's seconds of waiting for rows, not computing: its span minus its time
  /// alone (a fused launch holds its SMs while it waits). The metrics count a computation busy
  /// over busy_from_s() .. end_s.
  double stream_wait_s = 0.0;
  double busy_from_s() const { return start_s + stream_wait_s; }
};

/// When one GPU's part of an all-to-all ended: its own sends and receives done (NCCL's grouped
/// send/receive returns on that rank then, and its next op may start).
struct GpuPartEnd {
  std::int32_t gpu = 0;
  double end_s = 0.0;
};

struct Timeline {
  std::string engine;
  int num_gpus = 0;
  std::vector<TimelineOp> ops;     ///< indexed by op id
  std::vector<double> link_bytes;  ///< per directed link id; empty when not known (measured runs)
  /// Per directed link id: seconds during which an all-to-all using it was in flight (the union of
  /// those ops' spans), and the bandwidth the engine let it carry (B/s: raw x link efficiency).
  /// Empty when not known (measured runs, files written before they existed).
  std::vector<double> link_busy_s, link_effective_Bps;
  /// Per op id: for an all-to-all, when each of its GPUs' parts ended, sorted by GPU (the op's
  /// end_s is the last of them); empty for computations, and for all-to-alls whose engine or
  /// measurement knows only the whole op's end. Empty altogether in that case too.
  std::vector<std::vector<GpuPartEnd>> gpu_part_ends;

  double makespan_s() const;
  /// When `gpu`'s part of op `op` ended: its part's end where known, else the op's end.
  double end_on(std::int32_t op, std::int32_t gpu) const;
};

/// Starts an empty timeline for `plan` with every op's identity filled in.
Timeline timeline_for(const Plan& plan, const std::string& engine);

nlohmann::ordered_json timeline_to_json(const Timeline& timeline);
/// Inverse of timeline_to_json; throws InputError naming `origin` on a malformed document.
Timeline timeline_from_json(const nlohmann::json& json, const std::string& origin);

}  // namespace comet
