// All-to-all algorithms: turn one chunk's token exchange in one expert-parallel group into the
// transfer matrices of its stages.
//   direct:       every GPU sends straight to every GPU it has copies for (one stage, one
//                 message per peer: 2 x (EP - 1) per GPU at most).
//   hierarchical: DeepEP-style, one pipelined stage. Between nodes a source sends each token
//                 once per destination node, whatever the number of its experts there, to the
//                 GPU of its own rail in that node (RDMA on its own NIC), which forwards the
//                 copies to the experts' GPUs over NVLink as they arrive; inside a node, copies go
//                 straight to their GPU. Both legs are in one op, so they overlap (a fluid: the
//                 forward leg runs while the network leg still delivers), and a GPU posts a message
//                 per destination node and per GPU of its own node rather than per GPU of the
//                 group. The combine runs it backwards (the rail GPU reduces the node's outputs
//                 of a token and sends one row back).
//                 Tokens per (source, destination node): the routing holds copies, not tokens, so
//                 they are estimated as if each of a token's top-k copies landed on the node
//                 independently with the source's share of copies there, p: tokens x (1 - (1 - p)^k),
//                 between copies / k and copies (unique_tokens).
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

/// The stages (one for either algorithm) for the pairs of `group`; `top_k` copies per token.
std::vector<TransferMatrix> build_a2a_stages(const TokenExchange& exchange, int group, A2aAlgorithm algorithm,
                                             const Topology& topology, double bytes_per_copy, int top_k);

/// Expected distinct tokens among `tokens` tokens of `top_k` copies each when `copies` of their
/// copies go to one destination node (each copy there independently with p = copies / (tokens
/// x top_k)); between copies / top_k and copies.
double unique_tokens(double tokens, double copies, int top_k);

/// Bytes each directed link carries for a matrix (reversed: dst -> src).
void add_link_bytes(const Topology& topology, const TransferMatrix& matrix, bool reversed, std::vector<double>& bytes);

}  // namespace comet
