// A run as a Chrome / Perfetto trace (the trace-event JSON format, opened by ui.perfetto.dev
// and chrome://tracing): one process per GPU shown, with compute and all-to-all tracks, and one
// process for the most loaded links, whose tracks show the all-to-all ops that crossed them.
// Every event is a complete event (ph "X", ts and dur in microseconds) whose duration is the
// Timeline op's; tracks are split into lanes where ops overlap, as trace viewers require.
//
// Size: a 1024-GPU layer has ~30 ops per GPU and each GPU shows its group's all-to-alls too,
// about 9 MB per policy with every GPU. By default a trace shows 8 GPUs: the critical GPU, the
// ones finishing last after it (where the layer time is decided) and the one finishing first
// (for contrast); `max_gpus` = 0 shows all.
#pragma once

#include <nlohmann/json.hpp>

#include <vector>

#include "plan.hpp"
#include "timeline.hpp"
#include "topology.hpp"

namespace comet {

struct TraceOptions {
  int max_gpus = 8;   ///< 0: every GPU
  int max_links = 8;  ///< most loaded links shown; 0: none
};

struct TraceInput {
  const Plan* plan = nullptr;  ///< for the bytes each all-to-all op put on each link
  const Timeline* timeline = nullptr;
  const Topology* topology = nullptr;
  int critical_gpu = 0;
  int expert_parallel = 1;
  nlohmann::ordered_json about;  ///< scenario, policies, engine: copied into "otherData"
};

/// The GPUs a trace shows (see above), in id order.
std::vector<int> trace_gpus(const Timeline& timeline, int critical_gpu, int max_gpus);

nlohmann::ordered_json perfetto_trace(const TraceInput& input, const TraceOptions& options);

}  // namespace comet
