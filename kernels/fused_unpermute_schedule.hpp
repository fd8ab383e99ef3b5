// The destination side of COMET's fused combine, host code only: which landing counters each piece
// of the unpermute waits for, so that a destination GPU can reduce its tokens' expert rows as they
// land instead of after every sender's combine launch has ended (kernels/fused_combine_gemm.hpp's
// unpermute blocks run it).
//
// Every GPU of the expert-parallel group (a sender) sends each finished output tile's rows back to
// the GPUs the tokens came from and raises the destination's landing counter of (sender, the
// sender's local expert, N tile) by the rows it wrote (LandingLayout, fused_schedule.hpp). The
// destination knows what completes each counter without asking anyone: the copies of its own tokens
// it dispatched to that expert. The unpermute of a token's columns in N tile n, the weighted sum of
// its top-k expert rows (kernels/permute.hpp, combine_rows), can run once the counters of its
// copies' experts for n are complete.
#pragma once

#include <cstdint>
#include <vector>

#include "fused_schedule.hpp"

namespace comet::kernels {

/// Where a destination's token copies come back to it in the combine: sent[s * experts + e]
/// copies it dispatched to local expert e of sender s, which land in its combine buffer from row
/// first_row[s] on for sender s, expert by expert (the order of its dispatch's send pieces).
struct CombineReturn {
  int senders = 0, experts = 0;
  std::vector<std::int64_t> sent;       ///< senders x experts
  std::vector<std::int64_t> first_row;  ///< per sender; empty: the senders' rows back to back from row 0

  std::int64_t sent_to(int sender, int expert) const { return sent[static_cast<std::size_t>(sender) * experts + expert]; }
};

/// Wait until landing counter `counter` counts `rows` rows.
struct LandingWait {
  int counter = 0;
  std::int64_t rows = 0;
};

/// One piece of the unpermute: the columns of N tile n of tokens [first_token, first_token + tokens)
/// of UnpermuteSchedule::tokens, after waits [first_wait, first_wait + waits).
struct UnpermuteUnit {
  int n = 0;
  int first_token = 0, tokens = 0;
  int first_wait = 0, waits = 0;
};

/// The destination's unpermute in pieces, in the order its blocks take them: tokens whose copies all
/// went to early experts first (every sender computes its experts in order, N column by N column,
/// so counter (s, e, n) fills at about the same time on every sender, sooner for smaller e and n).
/// Tokens without a copy have nothing to add and are in no unit.
struct UnpermuteSchedule {
  LandingLayout landing;
  int top_k = 0;
  std::vector<std::int32_t> tokens;    ///< token indices, grouped into the units' runs
  std::vector<LandingWait> waits;      ///< the units' waits, each unit's contiguous
  std::vector<UnpermuteUnit> units;    ///< in the order the unpermute's blocks take them
  std::vector<std::int64_t> expected;  ///< per landing counter: the rows that complete it (0: none come)
};

/// The unpermute of a destination whose copies come back as `back` says, with positions[t * top_k
/// + j] the combine-buffer row of token t's copy j (< 0: no copy), in N tiles of `n_tiles` and runs
/// of at most `tokens_per_unit` tokens. Throws std::invalid_argument on inputs that cannot be
/// (sizes, negative counts, a position outside every sender's rows).
UnpermuteSchedule make_unpermute_schedule(const CombineReturn& back, const std::vector<std::int32_t>& positions, int top_k, int n_tiles,
                                          int tokens_per_unit);

}  // namespace comet::kernels
