#include "a2a_algorithms.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

namespace comet {
namespace {

// Accumulates bytes per (src, dst) and emits a sorted sparse matrix without zero or self entries.
class MatrixBuilder {
 public:
  void add(int src, int dst, double bytes) {
    if (src != dst && bytes > 0.0) bytes_[{src, dst}] += bytes;
  }
  TransferMatrix finish() const {
    TransferMatrix matrix;
    matrix.transfers.reserve(bytes_.size());
    for (const auto& [pair, bytes] : bytes_) matrix.transfers.push_back({pair.first, pair.second, bytes});
    return matrix;
  }

 private:
  std::map<std::pair<int, int>, double> bytes_;  // ordered: the matrix comes out sorted
};

struct NodeShape {
  int gpus_per_node;
  int nics_per_node;
  int node(int gpu) const { return gpu / gpus_per_node; }
  int rail(int gpu) const { return (gpu % gpus_per_node) * nics_per_node / gpus_per_node; }
  // The first GPU of `node` on `rail` (GPU g uses NIC g * nics / gpus, as the builders cable it).
  int gateway(int node, int rail) const {
    return node * gpus_per_node + (rail * gpus_per_node + nics_per_node - 1) / nics_per_node;
  }
};

}  // namespace

A2aAlgorithm parse_a2a_algorithm(const std::string& name) {
  if (name == "direct") return A2aAlgorithm::DIRECT;
  if (name == "hierarchical") return A2aAlgorithm::HIERARCHICAL;
  throw std::invalid_argument("unknown all-to-all algorithm " + name);
}

double unique_tokens(double tokens, double copies, int top_k) {
  if (copies <= 0.0 || tokens <= 0.0 || top_k <= 1) return copies;
  const double p = std::min(1.0, copies / (tokens * top_k));
  const double expected = tokens * (1.0 - std::pow(1.0 - p, top_k));
  return std::clamp(expected, copies / top_k, copies);
}

std::vector<TransferMatrix> build_a2a_stages(const TokenExchange& exchange, int group, A2aAlgorithm algorithm,
                                             const Topology& topology, double bytes_per_copy, int top_k) {
  const int ep = exchange.expert_parallel();
  const int base = group * ep;
  std::vector<TransferMatrix> stages;
  if (algorithm == A2aAlgorithm::DIRECT || !topology.has_network()) {
    // Sources and destinations ascend, so the matrix comes out sorted without a map.
    TransferMatrix direct;
    for (int src = base; src < base + ep; ++src)
      for (int p = 0; p < ep; ++p) {
        const std::int64_t copies = exchange.pair(src, p);
        if (copies > 0 && src != base + p) direct.transfers.push_back({src, base + p, static_cast<double>(copies) * bytes_per_copy});
      }
    stages.push_back(std::move(direct));
    return stages;
  }
  const NodeShape shape{topology.num_gpus() / topology.num_nodes(),
                        topology.num_vertices_of(VertexKind::NIC) / topology.num_nodes()};
  MatrixBuilder matrix;
  std::map<int, std::int64_t> copies_to_node;  // of one source, per remote destination node
  for (int src = base; src < base + ep; ++src) {
    copies_to_node.clear();
    std::int64_t sent = 0;
    for (int p = 0; p < ep; ++p) {
      const int dst = base + p;
      const std::int64_t copies = exchange.pair(src, p);
      sent += copies;
      if (copies <= 0 || src == dst) continue;
      const int via = shape.gateway(shape.node(dst), shape.rail(src));
      if (shape.node(src) == shape.node(dst) || via < base || via >= base + ep) {  // (a group smaller than a node)
        matrix.add(src, dst, static_cast<double>(copies) * bytes_per_copy);
        continue;
      }
      copies_to_node[shape.node(dst)] += copies;
      // The forward leg inside the destination node, from the source's rail GPU there.
      matrix.add(via, dst, static_cast<double>(copies) * bytes_per_copy);
    }
    const double tokens = static_cast<double>(sent) / top_k;
    for (const auto& [node, copies] : copies_to_node)
      matrix.add(src, shape.gateway(node, shape.rail(src)),
                 unique_tokens(tokens, static_cast<double>(copies), top_k) * bytes_per_copy);
  }
  stages.push_back(matrix.finish());
  return stages;
}

void add_link_bytes(const Topology& topology, const TransferMatrix& matrix, bool reversed, std::vector<double>& bytes) {
  std::vector<int> route;
  for (const Transfer& t : matrix.transfers) {
    route.clear();
    if (reversed) topology.append_route(t.dst, t.src, route);
    else topology.append_route(t.src, t.dst, route);
    for (int id : route) bytes[id] += t.bytes;
  }
}

}  // namespace comet
