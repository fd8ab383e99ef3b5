// `dynamic`'s search: of its candidate chunkings (dynamic_candidates()), the one whose layer the
// plan builder's pricers (PartitionInputs) put fastest, pricing as few Plans, as small, as that
// answer allows.
//
// Two ways, by what the pricers offer:
//  - Independent parts (PartitionInputs::group_times_s and two or more parts in part_of_group):
//    the layer time is the slowest group's, and a Plan that keeps only one part's traffic prices
//    that part as the whole Plan does (its groups share no link and no GPU with the others), at a
//    fraction of the work. Each candidate is bounded from below by the part that was slowest when
//    a candidate was last priced whole; candidates are priced whole in order of their bounds until
//    no bound is below the cheapest whole price. The choice is the cheapest candidate exactly.
//  - Otherwise every candidate is ranked by rough_layer_time_s (when given) and those within
//    DYNAMIC_RE_PRICE_MARGIN of the rough cheapest are priced with layer_time_s.
// Ties (within 1e-9) go to the earlier candidate.
#pragma once

#include <vector>

#include "partition_policies.hpp"

namespace comet {

/// `dynamic`: equal chunks at every count of DYNAMIC_CHUNK_COUNTS, then the other shapes at the
/// cheapest count; the description names the choice and its predicted layer time.
ChunkPlan dynamic_chunks(const PartitionInputs& inputs);

/// `routing` with every source row outside `part` (part_of_group[source / expert_parallel])
/// zeroed: the traffic of one independent part.
RoutingMatrix routing_of_part(const RoutingMatrix& routing, int expert_parallel, const std::vector<int>& part_of_group,
                              int part);

}  // namespace comet
