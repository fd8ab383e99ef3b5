// All-to-all algorithms: turn one chunk's token exchange in one expert-parallel group into the
// transfer matrices of its stages.
//   direct:       every GPU sends straight to every GPU it has copies for (one stage).
//   hierarchical: 2DH / PXN. Stage 0 gathers, inside the source node, the copies for each remote
//                 destination on the GPU of the destination's rail (the GPU sharing its NIC
//                 index); same-node copies go straight to their destination here. Stage 1 sends
//                 rail to rail between nodes, aggregated per (node, node, rail). Stage 2
//                 scatters inside the destination node from the rail GPU to the destination
//                 (empty when every GPU has its own NIC: the rail GPU is the destination).
#pragma once

#include <string>
#include <vector>

#include "plan.hpp"
#include "token_exchange.hpp"
#include "topology.hpp"

namespace comet {

enum class A2aAlgorithm { DIRECT, HIERARCHICAL };
/// "direct" or "hierarchical"; throws std::invalid_argument otherwise.
A2aAlgorithm parse_a2a_algorithm(const std::string& name);

/// The stages (1 for direct, 3 for hierarchical, some possibly empty) for the pairs of `group`.
std::vector<TransferMatrix> build_a2a_stages(const TokenExchange& exchange, int group, A2aAlgorithm algorithm,
                                             const Topology& topology, double bytes_per_copy);

/// Bytes each directed link carries for a matrix (reversed: dst -> src).
void add_link_bytes(const Topology& topology, const TransferMatrix& matrix, bool reversed, std::vector<double>& bytes);

}  // namespace comet
