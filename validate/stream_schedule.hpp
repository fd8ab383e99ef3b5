// Which events each of a rank's ops waits for, on the stream the Plan gives it (stream_of in
// plan.hpp): the host-side decisions of the real executor's pipeline, kept apart from CUDA so
// they are tested anywhere. An op waits for its dependencies that this rank ran on another stream (same-stream order is
// implicit), and, because staging buffers are double-buffered (chunk c uses slot c % 2), for the
// ops of chunk c - 2 that last read the slot it is about to write.
#pragma once

#include <cstdint>
#include <vector>

#include "plan.hpp"

namespace comet {

/// Whether `rank` runs `op`: its own compute ops, and every all-to-all of its group (group 0:
/// the real executor runs one expert-parallel group).
bool runs_on(const Op& op, int rank);

struct ScheduledOp {
  std::int32_t op = 0;
  StreamRole stream = StreamRole::COMPUTE;
  std::vector<std::int32_t> waits;  ///< earlier ops of this rank on other streams
};

/// The ops `rank` runs, in the order they are enqueued (plan order).
std::vector<ScheduledOp> schedule_rank(const Plan& plan, int rank);

}  // namespace comet
