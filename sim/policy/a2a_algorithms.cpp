#include "a2a_algorithms.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace comet {
namespace {

// Accumulates bytes per (src, dst) and emits a sorted sparse matrix without zero or self entries.
// Additions are kept in a flat list and merged once, sorted stably by (src, dst), so each pair's
// bytes are summed in the order they were added (an ordered map did the same, at a fifth of
// `comet compare`'s time for the hierarchical Plans of 256-GPU groups). The sort is two stable
// counting passes (by dst, then by src) over the group's GPU range: linear, where a comparison
// sort of ~65K additions per 256-GPU group was 4.5% of `compare`.
class MatrixBuilder {
 public:
  void add(int src, int dst, double bytes) {
    if (src != dst && bytes > 0.0) added_.push_back({src, dst, bytes});
  }
  TransferMatrix finish() {
    sort_by_pair();
    TransferMatrix matrix;
    for (const Transfer& t : added_) {
      if (!matrix.transfers.empty() && matrix.transfers.back().src == t.src && matrix.transfers.back().dst == t.dst)
        matrix.transfers.back().bytes += t.bytes;
      else
        matrix.transfers.push_back(t);
    }
    added_.clear();
    return matrix;
  }

 private:
  void sort_by_pair() {
    if (added_.empty()) return;
    int lo = added_.front().src, hi = lo;
    for (const Transfer& t : added_) {
      lo = std::min({lo, t.src, t.dst});
      hi = std::max({hi, t.src, t.dst});
    }
    std::vector<Transfer> sorted(added_.size());
    std::vector<std::size_t> start(static_cast<std::size_t>(hi - lo) + 2);
    auto pass = [&](auto key, const std::vector<Transfer>& from, std::vector<Transfer>& to) {
      std::fill(start.begin(), start.end(), 0);
      for (const Transfer& t : from) ++start[static_cast<std::size_t>(key(t) - lo) + 1];
      for (std::size_t i = 1; i < start.size(); ++i) start[i] += start[i - 1];
      for (const Transfer& t : from) to[start[static_cast<std::size_t>(key(t) - lo)]++] = t;
    };
    pass([](const Transfer& t) { return t.dst; }, added_, sorted);
    pass([](const Transfer& t) { return t.src; }, sorted, added_);
  }

  std::vector<Transfer> added_;
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
  // Of one source, per remote destination node: the copies, and the nodes it sends to in
  // ascending order (destinations ascend, so nodes are met in order).
  std::vector<std::int64_t> copies_to_node(static_cast<std::size_t>(topology.num_nodes()), 0);
  std::vector<int> nodes_sent_to;
  for (int src = base; src < base + ep; ++src) {
    for (int node : nodes_sent_to) copies_to_node[node] = 0;
    nodes_sent_to.clear();
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
      if (nodes_sent_to.empty() || nodes_sent_to.back() != shape.node(dst)) nodes_sent_to.push_back(shape.node(dst));
      copies_to_node[shape.node(dst)] += copies;
      // The forward leg inside the destination node, from the source's rail GPU there.
      matrix.add(via, dst, static_cast<double>(copies) * bytes_per_copy);
    }
    const double tokens = static_cast<double>(sent) / top_k;
    for (int node : nodes_sent_to)
      matrix.add(src, shape.gateway(node, shape.rail(src)),
                 unique_tokens(tokens, static_cast<double>(copies_to_node[node]), top_k) * bytes_per_copy);
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
