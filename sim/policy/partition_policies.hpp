// Partition policies: how each GPU's routed tokens are cut into pipeline chunks, so that the
// all-to-all of one chunk overlaps the expert GEMMs of another.
//   none     one chunk: dispatch -> compute -> combine in series.
//   fixed:K  each GPU's copies split into K near-equal chunks (Tutel-style degree K); copies to the
//            GPU's own experts go to the first and last chunk first (split_routing_local_ends).
//   tapered:K  K chunks, the first and last half the size of the others (K >= 3; else fixed:K):
//            the pipeline's exposed ends (first dispatch, last combine) are half as long.
//   dynamic  per step, the chunk count (1..16) and shape (equal, a small first chunk, or tapered) whose
//            layer (forward + backward of this step's routing) the analytical engine runs fastest
//            with the scenario's cost model: the same cost and network model every engine uses,
//            priced through PartitionInputs' pricers (the plan builder supplies them; the search:
//            dynamic_search.hpp). Equal chunks at every count first, then the other shapes at the
//            best count.
//   fine     COMET-style: chunks by source distance, chunk c holding the copies from sources c
//            nodes (or GPUs, inside one node) away, so a GPU's own node's tokens are computed
//            first; GEMMs run on the SMs left after FINE_COMM_SMS go to communication.
//   comet:B  COMET's fused kernels (kernels/fused_*): one chunk, each expert pass one fused launch
//            per projection whose B transfer blocks (an even count below the SMs) move the rows
//            while the GEMM runs on the other SMs (the copy side's blocks then join the GEMM:
//            compute_time_s prices both): the GEMM streams from the dispatch and the
//            combine from the GEMM (Plan::add's `streaming`), the transfers capped at B x
//            CostModel::fused_block_Bps per GPU link. Simulated only: `comet validate` does not run
//            it yet (docs/policies.md).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "cost_model.hpp"
#include "expert_placement.hpp"
#include "moe_model.hpp"
#include "path_costs.hpp"
#include "policy_spec.hpp"
#include "routing_matrix.hpp"
#include "token_exchange.hpp"
#include "topology.hpp"

namespace comet {

/// SMs a fine-grained (COMET-style) pipeline gives to communication.
inline constexpr int FINE_COMM_SMS = 16;
/// Most chunks `fine` uses (sources farther apart are merged).
inline constexpr int FINE_MAX_CHUNKS = 8;

struct ChunkPlan {
  std::vector<TokenExchange> chunks;  ///< pipeline order; together exactly the whole exchange
  /// The copies of each chunk per (source, expert): what the real executor moves token by token.
  /// Empty when a chunk takes different replicas of one (source, expert) (fine with replication).
  std::vector<RoutingMatrix> parts;
  double compute_sm_fraction = 1.0;   ///< share of SMs the expert GEMMs may use
  std::string description;            ///< e.g. "4 equal chunks" (dynamic: what it chose and why)
  double predicted_makespan_s = 0.0;  ///< dynamic: the analytical engine's layer time of its choice
  int transfer_blocks = 0;            ///< comet:B: B (the Plan's fused transfer blocks); else 0
};

/// The fused transfer blocks per GPU a partition policy runs on (comet:B: B; others 0).
int transfer_blocks_of(const PolicySpec& partition);

struct PartitionInputs {
  const RoutingMatrix* routing = nullptr;
  const ExpertPlacement* placement = nullptr;
  const Topology* topology = nullptr;
  const PathCosts* costs = nullptr;
  const CostModel* cost_model = nullptr;
  const MoeModel* model = nullptr;
  /// Seconds one layer (forward + backward) takes with these chunks: what `dynamic` minimises.
  std::function<double(const ChunkPlan&)> layer_time_s;
  /// Optional: the same, cheaper and close (the plan builder's: every GPU's part of an all-to-all
  /// ending with the op). `dynamic` then ranks every candidate with it and prices again with
  /// layer_time_s those within DYNAMIC_RE_PRICE_MARGIN of the cheapest, choosing among them.
  std::function<double(const ChunkPlan&)> rough_layer_time_s;
  /// Optional, with part_of_group: seconds from the layer's start to the last op of each
  /// expert-parallel group with these chunks (the layer time is their max); for `part` >= 0, of a
  /// Plan of that part's groups alone (the others 0; only their chunks' rows are read). `dynamic`
  /// then bounds candidates by one independent part before pricing them whole (dynamic_search.hpp).
  std::function<std::vector<double>(const ChunkPlan&, int part)> group_times_s;
  /// Per expert-parallel group, its independent part (independent_parts(): groups of different
  /// parts share no link and no GPU, under every chunking of this routing). Empty: not known.
  std::vector<int> part_of_group;
};

/// How close to the cheapest rough price a `dynamic` candidate must be to be priced again. Per-GPU
/// completion moves a layer by up to d below its rough (group completion) price, so the exact
/// cheapest is within d / (1 - d) of the rough cheapest; d was 0 to 0.36% over the 32
/// equal-count candidates of the default scenario's four `dynamic` combinations (docs/policies.md),
/// so 0.5% keeps it.
inline constexpr double DYNAMIC_RE_PRICE_MARGIN = 0.005;

/// Chunk counts `dynamic` tries.
inline constexpr int DYNAMIC_CHUNK_COUNTS[] = {1, 2, 3, 4, 6, 8, 12, 16};

/// One chunking `dynamic` tries: its name ("4 tapered chunks") and chunk fractions (sum 1).
struct ChunkCandidate {
  std::string name;
  std::vector<double> fractions;
  int shape = 0;  ///< 0 equal, 1 small first, 2 tapered
};
std::vector<ChunkCandidate> dynamic_candidates();

/// The token exchange of each chunk's copies.
std::vector<TokenExchange> exchanges_of(const std::vector<RoutingMatrix>& parts, const ExpertPlacement& placement);

ChunkPlan partition_tokens(const PolicySpec& partition, const PartitionInputs& inputs);

/// Splits every (source, expert) count by `fractions` (summing to 1) with cumulative rounding,
/// so the parts add up exactly to the original counts.
std::vector<RoutingMatrix> split_routing(const RoutingMatrix& routing, const std::vector<double>& fractions);

/// Like split_routing, per source GPU: each chunk gets `fractions` of the source's copies, but the
/// copies that stay on the source's GPU (an expert whose only copy is there: no all-to-all) fill
/// the first and the last chunk first, half each. Those two chunks' dispatch and combine are the
/// pipeline's ends, which nothing else can overlap; a local copy there costs no communication.
/// Every cell's parts still add up exactly to its count.
std::vector<RoutingMatrix> split_routing_local_ends(const RoutingMatrix& routing, const ExpertPlacement& placement,
                                                    const std::vector<double>& fractions);

}  // namespace comet
