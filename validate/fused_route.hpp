// What COMET's fused kernels need from a Plan's token layout (host code): for one destination
// rank and chunk, the rows each source sends to each of its local expert slots
// (kernels::DispatchRoute), and where each source's piece for that rank starts in its send buffer.
//
// The layouts already agree (docs/fused-kernels.md, "Wiring them into a policy"): a source's piece
// for rank d is ordered by d's local slot, then token (TokenLayout's send order), which is the
// "expert by expert, contiguous" source layout the fused dispatch pulls from and the fused combine
// writes back into; the fused kernels' expert-major order keeps each slot's rows in one range of
// the same size as the layout's slot range (in the kernels' wave order within it: this rank's own
// rows first, then the other sources in ring order).
#pragma once

#include <cstdint>
#include <vector>

#include "fused_schedule.hpp"
#include "token_layout.hpp"

namespace comet {

/// Rows of `chunk` that each source rank sends to each local slot of `rank`: rows[slot x sources +
/// source]; sources = the layout's ranks, local source = `rank`.
kernels::DispatchRoute fused_route(const TokenLayout& layout, int chunk, int rank);

/// Per source rank: the first row of its piece for `rank` in its send buffer (and, the same
/// offsets, in its combine receive buffer) in `chunk`.
std::vector<std::int64_t> fused_source_offsets(const TokenLayout& layout, int chunk, int rank);

}  // namespace comet
