// One rank's share of a validation run, whoever launched it (a thread per GPU in one process,
// or one MPI process per GPU): run every job's plan on this rank's GPU and keep its op times
// and outputs; and the step that turns all ranks' results into measurements.
#pragma once

#include <nccl.h>

#include <utility>
#include <vector>

#include "real_executor.hpp"
#include "run_control.hpp"

namespace comet {

struct RankResult {
  /// [job][repeat][op] -> (start, end) seconds since the rank's base event; (-1, -1) for ops
  /// of other ranks.
  std::vector<std::vector<std::vector<std::pair<double, double>>>> times;
  std::vector<std::vector<float>> output, input_gradient;  ///< [job] -> [tokens, H]
  std::vector<std::vector<float>> weight_gradient;         ///< [job] -> the first local expert's dw13, dw2
};

/// Runs every job on `device` as rank `rank` of `ranks`. Ranks start each repeat together
/// (`barrier`). On failure: records it in `shared`, aborts every communicator, rethrows.
void run_rank(int rank, int device, int ranks, const std::vector<RealJob>& jobs, const LayerDims& dims,
              const RealRunOptions& options, const ncclUniqueId& dispatch_id, const ncclUniqueId& combine_id,
              RunControl& shared, RankBarrier& barrier, RankResult& result);

/// Every job's measured Timeline (median over repeats; all-to-alls: earliest start and latest end
/// over ranks) and every rank's outputs, rank after rank.
std::vector<RealMeasurement> merge_ranks(const std::vector<RealJob>& jobs, const std::vector<RankResult>& ranks);

}  // namespace comet
