// The copies a copy engine makes for the fused combine's sends (FusedCombineGemm::run_engine):
// the schedule's row sends merged into as few rectangles of rows x columns as their order allows,
// each with the done flags it must wait for. Plain host code, so that the merging is tested
// without a GPU.
//
// A copy engine pays a fixed cost per copy (its setup, and the stream's wait before it), so the
// sends of one tile's columns (128 rows x 512 bytes) are merged: first down (the next send of the
// same columns continues the rows in the output and at the destination), then across (a send of
// the same rows in the next columns, among the last few copies: a band's tiles of several sources
// come column by column). A copy that takes in a later send waits for its tile too, so it takes in
// only sends fewer than ENGINE_COPY_SPAN places after its first: its tiles are computed at about the
// same time (Mixtral at 4K tokens: in bands of one source's rows per expert, a copy is the band's
// whole rows, 2 MB contiguous at the destination; one band per expert, a copy is 4 of the expert's
// N columns for one source, where whole rows would wait for the expert's last tile). Copies that
// follow one in the list may wait behind it, but never for a tile that is not theirs.
#pragma once

#include <cstdint>
#include <vector>

#include "fused_schedule.hpp"

namespace comet::kernels {

/// One copy: rows [row, row + rows) x columns [column, column + columns) of the output (elements,
/// row stride n) to rows [dest_row, dest_row + rows) of `source`'s combine buffer (same columns,
/// same row stride), once every flag in `flags` is counted done.
struct EngineCopy {
  int source = 0;
  std::int64_t row = 0, dest_row = 0, rows = 0;
  std::int64_t column = 0, columns = 0;
  std::vector<int> flags;  ///< done flags, each once, in the order the sends listed them
  int first_send = 0, last_send = 0;  ///< the first and last of its sends in the schedule's list
};

/// The sends of one copy lie fewer than this many places apart in the schedule's list.
constexpr int ENGINE_COPY_SPAN = 64;

/// The copies of `schedule`'s sends for an output of `n` columns in N tiles of `tile_n` columns (the
/// last one may be narrower), in the order of their first sends: every send's rows and columns in
/// exactly one copy. Sends of no rows are skipped.
std::vector<EngineCopy> merge_engine_copies(const FusedCombineSchedule& schedule, std::int64_t n, int tile_n);

}  // namespace comet::kernels
