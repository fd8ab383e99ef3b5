#include "token_layout.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <tuple>

#include "hash_uniform.hpp"

namespace comet {

std::vector<std::int64_t> ChunkLayout::offsets(const std::vector<std::int64_t>& counts) {
  std::vector<std::int64_t> out(counts.size() + 1, 0);
  std::partial_sum(counts.begin(), counts.end(), out.begin() + 1);
  return out;
}

namespace {

struct Copy {
  std::int32_t token, choice, expert;
};

// Gives every copy of a rank its token and choice index; returns the copies of each (chunk,
// expert) in token order.
std::vector<std::vector<std::vector<Copy>>> assign_tokens(const std::vector<RoutingMatrix>& parts, int src, int top_k,
                                                          RankTokens& out) {
  const int experts = parts[0].num_experts();
  std::vector<std::int64_t> per_expert(experts, 0);
  for (const RoutingMatrix& part : parts)
    for (int e = 0; e < experts; ++e) per_expert[e] += part.at(src, e);
  const std::int64_t copies = std::accumulate(per_expert.begin(), per_expert.end(), std::int64_t{0});
  if (copies % top_k != 0)
    throw std::invalid_argument(fmt::format("GPU {} routes {} copies, not a multiple of top_k {}", src, copies, top_k));
  out.tokens = copies / top_k;
  out.experts.assign(copies, -1);
  out.weights.assign(copies, 0.0f);
  std::vector<std::vector<std::vector<Copy>>> by_chunk(parts.size(), std::vector<std::vector<Copy>>(experts));
  std::int64_t q = 0;
  for (int e = 0; e < experts; ++e) {
    if (per_expert[e] > out.tokens)
      throw std::invalid_argument(fmt::format("GPU {} sends expert {} {} copies but has only {} tokens", src, e,
                                              per_expert[e], out.tokens));
    std::size_t chunk = 0;
    std::int64_t left_in_chunk = parts[0].at(src, e);
    for (std::int64_t i = 0; i < per_expert[e]; ++i, ++q) {
      while (left_in_chunk == 0) left_in_chunk = parts[++chunk].at(src, e);
      --left_in_chunk;
      const auto token = static_cast<std::int32_t>(q % out.tokens), choice = static_cast<std::int32_t>(q / out.tokens);
      out.experts[static_cast<std::size_t>(token) * top_k + choice] = e;
      by_chunk[chunk][e].push_back({token, choice, e});
    }
  }
  for (auto& chunk : by_chunk)
    for (auto& list : chunk)
      std::sort(list.begin(), list.end(), [](const Copy& a, const Copy& b) { return a.token < b.token; });
  return by_chunk;
}

void draw_weights(RankTokens& tokens, int top_k, std::uint64_t seed) {
  for (std::int64_t t = 0; t < tokens.tokens; ++t) {
    float sum = 0.0f;
    for (int j = 0; j < top_k; ++j) {
      const std::size_t i = static_cast<std::size_t>(t) * top_k + j;
      tokens.weights[i] = 0.1f + static_cast<float>(kernels::hash_uniform(seed, i));
      sum += tokens.weights[i];
    }
    for (int j = 0; j < top_k; ++j) tokens.weights[static_cast<std::size_t>(t) * top_k + j] /= sum;
  }
}

}  // namespace

TokenLayout::TokenLayout(const std::vector<RoutingMatrix>& parts, const ExpertPlacement& placement, int top_k,
                         std::uint64_t seed)
    : num_ranks_(placement.expert_parallel()), top_k_(top_k), placement_(placement) {
  if (parts.empty()) throw std::invalid_argument("no chunks");
  for (int e = 0; e < placement.num_experts(); ++e)
    if (placement.replicas(e).size() != 1)
      throw std::invalid_argument(fmt::format("expert {} has {} replicas; the real executor runs one copy per expert", e,
                                              placement.replicas(e).size()));
  const int ranks = num_ranks_;
  tokens_.resize(ranks);
  chunks_.assign(parts.size(), std::vector<ChunkLayout>(ranks));
  for (int src = 0; src < ranks; ++src) {
    const auto copies = assign_tokens(parts, src, top_k, tokens_[src]);
    draw_weights(tokens_[src], top_k, seed ^ (0x5EEDULL + static_cast<std::uint64_t>(src)));
    for (std::size_t c = 0; c < parts.size(); ++c) {
      ChunkLayout& layout = chunks_[c][src];
      layout.send_count.assign(ranks, 0);
      layout.combine_positions.assign(tokens_[src].experts.size(), -1);
      for (int dst = 0; dst < ranks; ++dst)
        for (int e : placement.experts_on(dst))
          for (const Copy& copy : copies[c][e]) {
            const std::size_t i = static_cast<std::size_t>(copy.token) * top_k + copy.choice;
            layout.combine_positions[i] = static_cast<std::int32_t>(layout.send_rows.size());
            layout.send_rows.push_back(copy.token);
            layout.send_weights.push_back(tokens_[src].weights[i]);
            ++layout.send_count[dst];
          }
    }
  }
  // Receive side: rows from each source in its send order; expert-major = by slot, then source.
  for (std::size_t c = 0; c < parts.size(); ++c)
    for (int dst = 0; dst < ranks; ++dst) {
      ChunkLayout& layout = chunks_[c][dst];
      const std::vector<int>& slots = placement.experts_on(dst);
      layout.recv_count.assign(ranks, 0);
      std::vector<std::int64_t> per_slot(slots.size(), 0);
      // (slot, receive row) of every received row, receive rows ascending.
      std::vector<std::pair<int, std::int32_t>> rows;
      for (int src = 0; src < ranks; ++src) {
        layout.recv_count[src] = chunks_[c][src].send_count[dst];
        for (std::size_t s = 0; s < slots.size(); ++s) {
          const std::int64_t n = parts[c].at(src, slots[s]);
          for (std::int64_t i = 0; i < n; ++i) rows.emplace_back(static_cast<int>(s), static_cast<std::int32_t>(rows.size()));
          per_slot[s] += n;
        }
      }
      std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      layout.expert_rows.resize(rows.size());
      layout.source_rows.resize(rows.size());
      for (std::size_t i = 0; i < rows.size(); ++i) {
        layout.expert_rows[i] = rows[i].second;
        layout.source_rows[rows[i].second] = static_cast<std::int32_t>(i);
      }
      layout.slot_offsets = ChunkLayout::offsets(per_slot);
      layout.recv_offsets = ChunkLayout::offsets(layout.recv_count);
      chunks_[c][dst].send_offsets = ChunkLayout::offsets(chunks_[c][dst].send_count);
    }
  lay_out_layer_rows();
}

void TokenLayout::lay_out_layer_rows() {
  layer_slot_offsets_.resize(num_ranks_);
  for (int rank = 0; rank < num_ranks_; ++rank) {
    const std::size_t slots = chunks_[0][rank].slot_offsets.size() - 1;
    std::vector<std::int64_t> total(slots, 0);
    for (const auto& chunk : chunks_)
      for (std::size_t s = 0; s < slots; ++s) total[s] += chunk[rank].slot_offsets[s + 1] - chunk[rank].slot_offsets[s];
    layer_slot_offsets_[rank] = ChunkLayout::offsets(total);
    std::vector<std::int64_t> next(layer_slot_offsets_[rank].begin(), layer_slot_offsets_[rank].end() - 1);
    for (auto& chunk : chunks_) {
      ChunkLayout& l = chunk[rank];
      l.slot_first = next;
      l.layer_rows.resize(l.expert_rows.size());
      for (std::size_t s = 0; s < slots; ++s) {
        for (std::int64_t i = l.slot_offsets[s]; i < l.slot_offsets[s + 1]; ++i)
          l.layer_rows[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(next[s] + (i - l.slot_offsets[s]));
        next[s] += l.slot_offsets[s + 1] - l.slot_offsets[s];
      }
      l.source_layer_rows.resize(l.source_rows.size());
      for (std::size_t r = 0; r < l.source_rows.size(); ++r) l.source_layer_rows[r] = l.layer_rows[static_cast<std::size_t>(l.source_rows[r])];
    }
  }
}

}  // namespace comet
