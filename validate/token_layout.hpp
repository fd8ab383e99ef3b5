// Token-level layout of a Plan's chunks on the GPUs of one expert-parallel group: which token
// rows each rank sends where, in which order, and where they land. The Plan only knows counts
// (tokens[source][expert] per chunk); the real executor moves real rows, so this turns counts
// into row maps, on the host, once per plan.
//
// Copies of (source, expert) are given to tokens in order: the q-th copy of a source (experts
// ascending) goes to token q mod T as its (q / T)-th choice, so a token's choices are distinct
// experts whenever no expert takes more than T copies of a source. Chunk c takes the next
// parts[c][source][expert] copies of each (source, expert).
//
// Send order (what permute writes): by destination rank, then local expert slot, then token.
// Receive order: by source rank, each source's piece in its send order. Expert-major order
// (what the GEMMs read): by local slot, then source, then token. Layer order (the layer-wide
// expert-major buffers the activations live in): by local slot, then chunk, then expert-major
// order, so every slot's rows of all chunks are one range (one weight-gradient GEMM per expert).
#pragma once

#include <cstdint>
#include <vector>

#include "expert_placement.hpp"
#include "routing_matrix.hpp"

namespace comet {

/// One rank's tokens: top-k expert choices and gate weights (positive, summing to 1 per token).
struct RankTokens {
  std::int64_t tokens = 0;
  std::vector<std::int32_t> experts;  ///< [tokens * top_k]
  std::vector<float> weights;         ///< [tokens * top_k]
};

/// One chunk as one rank sees it.
struct ChunkLayout {
  // Sending (permute, dispatch, unpermute).
  std::vector<std::int32_t> send_rows;          ///< token of each send row
  std::vector<float> send_weights;              ///< gate weight of each send row
  std::vector<std::int64_t> send_count;         ///< rows to each rank
  std::vector<std::int64_t> send_offsets;       ///< [ranks + 1] first send row of each rank's piece
  std::vector<std::int32_t> combine_positions;  ///< [tokens * top_k] send row of each copy, -1 if not in this chunk
  // Receiving (expert GEMMs, combine).
  std::vector<std::int64_t> recv_count;         ///< rows from each rank
  std::vector<std::int64_t> recv_offsets;       ///< [ranks + 1] first receive row of each rank's piece
  std::vector<std::int32_t> expert_rows;        ///< receive row of each expert-major row
  std::vector<std::int32_t> source_rows;        ///< expert-major row of each receive row
  std::vector<std::int64_t> slot_offsets;       ///< [local slots + 1] expert-major row ranges
  std::vector<std::int64_t> slot_first;         ///< [local slots] layer row of this chunk's first row of each slot
  std::vector<std::int32_t> layer_rows;         ///< layer row of each expert-major row
  std::vector<std::int32_t> source_layer_rows;  ///< layer row of each receive row

  std::int64_t rows_sent() const { return static_cast<std::int64_t>(send_rows.size()); }
  std::int64_t rows_received() const { return static_cast<std::int64_t>(expert_rows.size()); }
  /// Offsets of the per-rank pieces of a buffer laid out by `counts`.
  static std::vector<std::int64_t> offsets(const std::vector<std::int64_t>& counts);
};

class TokenLayout {
 public:
  /// `parts` are the chunks' copies (sum = the step's routing) of one expert-parallel group
  /// whose ranks are GPUs 0 .. placement.expert_parallel()-1. Throws std::invalid_argument when
  /// the routing cannot be turned into tokens (a row not divisible by top_k, an expert taking
  /// more copies than the source has tokens) or the placement replicates experts.
  TokenLayout(const std::vector<RoutingMatrix>& parts, const ExpertPlacement& placement, int top_k, std::uint64_t seed);

  int num_ranks() const { return num_ranks_; }
  int num_chunks() const { return static_cast<int>(chunks_.size()); }
  int top_k() const { return top_k_; }
  const RankTokens& tokens(int rank) const { return tokens_[rank]; }
  const ChunkLayout& chunk(int chunk, int rank) const { return chunks_[chunk][rank]; }
  /// [local slots + 1] ranges of each slot's rows (all chunks) in `rank`'s layer order.
  const std::vector<std::int64_t>& layer_slot_offsets(int rank) const { return layer_slot_offsets_[rank]; }
  /// Experts of each local slot of `rank` (the weights it holds).
  const std::vector<int>& slot_experts(int rank) const { return placement_.experts_on(rank); }

 private:
  int num_ranks_, top_k_;
  ExpertPlacement placement_;
  std::vector<RankTokens> tokens_;
  std::vector<std::vector<ChunkLayout>> chunks_;  // [chunk][rank]
  std::vector<std::vector<std::int64_t>> layer_slot_offsets_;  // [rank]

  void lay_out_layer_rows();
};

}  // namespace comet
