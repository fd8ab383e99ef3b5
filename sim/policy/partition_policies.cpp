#include "partition_policies.hpp"

#include "dynamic_search.hpp"
#include "input_error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace comet {
namespace {

// Splits `count` copies by cumulative `fractions` (summing to `sum`) into out[c]: the running
// total is rounded down after adding `offset` in [0, 1), so every part is within one copy of its
// share, the parts add up exactly, and, with offsets spread evenly over cells, no chunk gets the
// rounding's extra copies more often than another (rounding halves up would favour the first).
void split_count(std::int64_t count, const std::vector<double>& fractions, double sum, double offset,
                 std::vector<std::int64_t>& out) {
  std::int64_t given = 0;
  double cumulative = 0.0;
  for (std::size_t c = 0; c < fractions.size(); ++c) {
    cumulative += fractions[c];
    const std::int64_t upto =
        c + 1 == fractions.size() ? count
                                  : std::min(count, static_cast<std::int64_t>(std::floor(static_cast<double>(count) * cumulative / sum + offset)));
    out[c] = std::max<std::int64_t>(0, upto - given);
    given += out[c];
  }
}

// A deterministic offset in [0, 1) per (source, expert) cell, evenly spread (the R2 sequence).
double rounding_offset(int src, int expert) {
  const double x = 0.7548776662466927 * src + 0.5698402909980532 * expert;
  return x - std::floor(x);
}

// Per chunk, the copies of a source that stay on its own GPU: half of them in the first and half
// in the last chunk, as far as those chunks' sizes allow; what is left over fills the chunks
// with room left, in proportion to it. Sizes in copies, `sizes` summing to at least `local`.
std::vector<double> local_allotment(double local, const std::vector<double>& sizes) {
  std::vector<double> share(sizes.size(), 0.0);
  const std::size_t last = sizes.size() - 1;
  share[0] = std::min(local / 2.0, sizes[0]);
  share[last] = last == 0 ? std::min(local, sizes[0]) : std::min(local / 2.0, sizes[last]);
  const double left = local - share[0] - (last == 0 ? 0.0 : share[last]);
  double room = 0.0;
  for (std::size_t c = 0; c < sizes.size(); ++c) room += sizes[c] - share[c];
  if (left > 0.0 && room > 0.0)
    for (std::size_t c = 0; c < sizes.size(); ++c) share[c] += left * (sizes[c] - share[c]) / room;
  return share;
}

bool stays_on_source(const ExpertPlacement& placement, int src, int expert) {  // its one copy is on src
  const std::vector<int>& where = placement.replicas(expert);
  return where.size() == 1 && where[0] == src % placement.expert_parallel();
}

// One source GPU's copies per chunk: of its own experts (local) and of the others (remote).
struct ChunkShares {
  std::vector<double> local, remote;
};

ChunkShares chunk_shares(double total, double local, const std::vector<double>& fractions, double sum) {
  std::vector<double> sizes(fractions.size());
  for (std::size_t c = 0; c < fractions.size(); ++c) sizes[c] = total * fractions[c] / sum;
  ChunkShares shares{local_allotment(local, sizes), std::vector<double>(fractions.size())};
  for (std::size_t c = 0; c < fractions.size(); ++c) shares.remote[c] = std::max(0.0, sizes[c] - shares.local[c]);
  return shares;
}

// Per source GPU: all its copies, and those of its own experts.
std::vector<std::pair<double, double>> source_copies(const RoutingMatrix& routing, const ExpertPlacement& placement) {
  std::vector<std::pair<double, double>> copies(routing.num_gpus(), {0.0, 0.0});
  for (int src = 0; src < routing.num_gpus(); ++src) {
    const std::int32_t* row = routing.row(src);
    for (int e = 0; e < routing.num_experts(); ++e) {
      copies[src].first += row[e];
      if (stays_on_source(placement, src, e)) copies[src].second += row[e];
    }
  }
  return copies;
}

double sum_of(const std::vector<double>& values) {
  double sum = 0.0;
  for (double v : values) sum += v;
  return sum;
}

std::vector<double> equal_fractions(int k) { return std::vector<double>(k, 1.0 / k); }

// A first chunk half the size of the others: compute can start sooner.
std::vector<double> small_first_fractions(int k) {
  std::vector<double> f(k, 2.0 / (2 * k - 1));
  f[0] = 1.0 / (2 * k - 1);
  return f;
}

// First and last chunk half the size of the others (K >= 3): in a dispatch -> experts -> combine
// pipeline the first chunk's dispatch and the last chunk's combine have nothing to overlap, so
// they are what stays exposed; halving them halves that.
std::vector<double> tapered_fractions(int k) {
  if (k < 3) return equal_fractions(k);
  std::vector<double> f(k, 1.0 / (k - 1));
  f.front() = f.back() = 0.5 / (k - 1);
  return f;
}

ChunkPlan fine_chunks(const PartitionInputs& in) {
  const RoutingMatrix& routing = *in.routing;
  const ExpertPlacement& placement = *in.placement;
  const int ep = placement.expert_parallel();
  const int gpus_per_node = in.topology->num_gpus() / in.topology->num_nodes();
  // Distance unit: nodes when the group spans several nodes, else GPUs.
  const int unit = ep > gpus_per_node ? gpus_per_node : 1;
  const int units = std::max(1, ep / unit);
  const int num_chunks = std::min(units, FINE_MAX_CHUNKS);
  ChunkPlan plan;
  plan.chunks.assign(num_chunks, TokenExchange(routing.num_gpus(), ep, placement.max_slots_per_gpu()));
  bool replicated = false;
  plan.parts.assign(num_chunks, RoutingMatrix(routing.num_gpus(), routing.num_experts()));
  for (int src = 0; src < routing.num_gpus(); ++src) {
    const int base = src - src % ep;
    const int src_unit = (src - base) / unit;
    const std::int32_t* row = routing.row(src);
    for (int e = 0; e < routing.num_experts(); ++e) {
      if (row[e] == 0) continue;
      const std::vector<int>& where = placement.replicas(e);
      for (int r = 0; r < static_cast<int>(where.size()); ++r) {
        const std::int64_t copies = ExpertPlacement::replica_share(row[e], r, static_cast<int>(where.size()));
        const int distance = ((where[r] / unit) - src_unit + units) % units;
        const std::size_t c = static_cast<std::size_t>(distance) * num_chunks / units;
        TokenExchange& chunk = plan.chunks[c];
        plan.parts[c].at(src, e) += static_cast<std::int32_t>(copies);
        replicated = replicated || where.size() > 1;
        chunk.pair(src, where[r]) += copies;
        chunk.slot(base + where[r], placement.slot_of(e, where[r])) += copies;
      }
    }
  }
  if (replicated) plan.parts.clear();
  plan.compute_sm_fraction = 1.0 - static_cast<double>(FINE_COMM_SMS) / in.cost_model->sm_count;
  plan.description = fmt::format("{} chunks by source distance, {} of {} SMs for communication", num_chunks,
                                 FINE_COMM_SMS, in.cost_model->sm_count);
  return plan;
}

}  // namespace

std::vector<RoutingMatrix> split_routing(const RoutingMatrix& routing, const std::vector<double>& fractions) {
  std::vector<RoutingMatrix> parts(fractions.size(), RoutingMatrix(routing.num_gpus(), routing.num_experts()));
  const double sum = sum_of(fractions);
  std::vector<std::int64_t> split(fractions.size());
  for (int src = 0; src < routing.num_gpus(); ++src) {
    const std::int32_t* row = routing.row(src);
    for (int e = 0; e < routing.num_experts(); ++e) {
      split_count(row[e], fractions, sum, rounding_offset(src, e), split);
      for (std::size_t c = 0; c < fractions.size(); ++c) parts[c].at(src, e) = static_cast<std::int32_t>(split[c]);
    }
  }
  return parts;
}

std::vector<RoutingMatrix> split_routing_local_ends(const RoutingMatrix& routing, const ExpertPlacement& placement,
                                                    const std::vector<double>& fractions) {
  std::vector<RoutingMatrix> parts(fractions.size(), RoutingMatrix(routing.num_gpus(), routing.num_experts()));
  const double sum = sum_of(fractions);
  const std::vector<std::pair<double, double>> copies = source_copies(routing, placement);
  std::vector<std::int64_t> split(fractions.size());
  for (int src = 0; src < routing.num_gpus(); ++src) {
    if (copies[src].first == 0.0) continue;  // its cells stay 0 in every chunk
    const std::int32_t* row = routing.row(src);
    const ChunkShares shares = chunk_shares(copies[src].first, copies[src].second, fractions, sum);
    const double local_sum = sum_of(shares.local), remote_sum = sum_of(shares.remote);
    for (int e = 0; e < routing.num_experts(); ++e) {
      const bool local_cell = stays_on_source(placement, src, e);
      const std::vector<double>& share = local_cell ? shares.local : shares.remote;
      const double share_sum = local_cell ? local_sum : remote_sum;
      // A kind of copy this source has none of keeps the plain fractions (its cells are all 0).
      if (share_sum > 0.0)
        split_count(row[e], share, share_sum, rounding_offset(src, e), split);
      else
        split_count(row[e], fractions, sum, rounding_offset(src, e), split);
      for (std::size_t c = 0; c < fractions.size(); ++c) parts[c].at(src, e) = static_cast<std::int32_t>(split[c]);
    }
  }
  return parts;
}

std::vector<TokenExchange> exchanges_of(const std::vector<RoutingMatrix>& parts, const ExpertPlacement& placement) {
  std::vector<TokenExchange> chunks;
  chunks.reserve(parts.size());
  for (const RoutingMatrix& part : parts) chunks.push_back(exchange_tokens(part, placement));
  return chunks;
}

std::vector<ChunkCandidate> dynamic_candidates() {
  struct Shape {
    const char* name;
    std::vector<double> (*fractions)(int k);
    int min_k;  // below it the shape is the equal split
  };
  const Shape shapes[] = {{"equal ", equal_fractions, 1}, {"(small first) ", small_first_fractions, 2},
                          {"tapered ", tapered_fractions, 3}};
  std::vector<ChunkCandidate> candidates;
  for (int k : DYNAMIC_CHUNK_COUNTS)
    for (const Shape& shape : shapes)
      if (k >= shape.min_k)
        candidates.push_back({k == 1 ? "1 chunk" : fmt::format("{} {}chunks", k, shape.name), shape.fractions(k),
                              static_cast<int>(&shape - shapes)});
  return candidates;
}

int transfer_blocks_of(const PolicySpec& partition) { return partition.name == "comet" ? partition.parameter : 0; }

ChunkPlan partition_tokens(const PolicySpec& partition, const PartitionInputs& in) {
  if (partition.name == "none" || partition.name == "comet") {
    ChunkPlan plan;
    plan.chunks.push_back(exchange_tokens(*in.routing, *in.placement));
    plan.parts.push_back(*in.routing);
    plan.description = "1 chunk";
    if (partition.name == "none") return plan;
    const int blocks = partition.parameter, sms = in.cost_model->sm_count;
    // One block per SM (parse_policy checks whole clusters of 2), and SMs left for the GEMM.
    if (blocks >= sms)
      throw InputError({"<policy>", 0, 0}, "partition", partition.text(),
                       fmt::format("fewer transfer blocks than the GPU's {} SMs, as in comet:8", sms));
    plan.transfer_blocks = blocks;
    plan.compute_sm_fraction = 1.0 - static_cast<double>(blocks) / sms;
    plan.description = fmt::format("1 chunk, fused kernels with {} transfer blocks per GPU", blocks);
    return plan;
  }
  if (partition.name == "fixed" || partition.name == "tapered") {
    const bool tapered = partition.name == "tapered" && partition.parameter >= 3;
    ChunkPlan plan;
    plan.parts = split_routing_local_ends(*in.routing, *in.placement,
                                          tapered ? tapered_fractions(partition.parameter) : equal_fractions(partition.parameter));
    plan.chunks = exchanges_of(plan.parts, *in.placement);
    plan.description = fmt::format("{} {}chunks", partition.parameter, tapered ? "tapered " : "equal ");
    return plan;
  }
  if (partition.name == "dynamic") return dynamic_chunks(in);
  if (partition.name == "fine") return fine_chunks(in);
  throw std::invalid_argument("unknown partition policy " + partition.text());
}

}  // namespace comet
