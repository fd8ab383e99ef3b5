#include "engine_copies.hpp"

#include <algorithm>

namespace comet::kernels {
namespace {

void add_flags(std::vector<int>& into, const std::vector<int>& from) {
  for (int f : from)
    if (std::find(into.begin(), into.end(), f) == into.end()) into.push_back(f);
}

// Whether `next`'s sends lie close enough after `copy`'s first for one copy (ENGINE_COPY_SPAN).
bool within_span(const EngineCopy& copy, const EngineCopy& next) {
  return next.last_send - copy.first_send < ENGINE_COPY_SPAN;
}

// `next` continues `copy` downwards: the same columns, the rows after its last in the output and
// at the destination.
bool continues_down(const EngineCopy& copy, const EngineCopy& next) {
  return within_span(copy, next) && next.source == copy.source && next.column == copy.column &&
         next.columns == copy.columns && next.row == copy.row + copy.rows &&
         next.dest_row == copy.dest_row + copy.rows;
}

// `next` continues `copy` across: the same rows, the columns after its last.
bool continues_across(const EngineCopy& copy, const EngineCopy& next) {
  return within_span(copy, next) && next.source == copy.source && next.row == copy.row &&
         next.dest_row == copy.dest_row && next.rows == copy.rows &&
         next.column == copy.column + copy.columns;
}

// Each copy merged into one of the last `window` copies kept that it continues (`grow` widens that
// one by it), else kept. A window of 1 merges only consecutive copies; a wider one also merges
// copies interleaved with others (a band's M tiles of several sources, column by column).
template <class Continues, class Grow>
std::vector<EngineCopy> merge(std::vector<EngineCopy> copies, std::size_t window, Continues continues, Grow grow) {
  std::vector<EngineCopy> merged;
  for (EngineCopy& c : copies) {
    bool absorbed = false;
    for (std::size_t back = 1; back <= std::min(window, merged.size()) && !absorbed; ++back) {
      EngineCopy& into = merged[merged.size() - back];
      if (continues(into, c)) {
        grow(into, c);
        add_flags(into.flags, c.flags);
        into.last_send = std::max(into.last_send, c.last_send);
        absorbed = true;
      }
    }
    if (!absorbed) merged.push_back(std::move(c));
  }
  return merged;
}

// Copies interleaved across: up to this many sources' rows within one band of M tiles.
constexpr std::size_t ACROSS_WINDOW = 8;

}  // namespace

std::vector<EngineCopy> merge_engine_copies(const FusedCombineSchedule& schedule, std::int64_t n, int tile_n) {
  std::vector<EngineCopy> copies;
  for (std::size_t i = 0; i < schedule.sends.size(); ++i) {
    const RowSend& s = schedule.sends[i];
    if (s.rows <= 0) continue;
    const std::int64_t column = static_cast<std::int64_t>(s.n) * tile_n;
    const int index = static_cast<int>(i);
    copies.push_back({s.source, s.row, s.dest_row, s.rows, column, std::min<std::int64_t>(tile_n, n - column), {s.done_flag}, index, index});
  }
  copies = merge(std::move(copies), 1, continues_down, [](EngineCopy& c, const EngineCopy& next) { c.rows += next.rows; });
  return merge(std::move(copies), ACROSS_WINDOW, continues_across, [](EngineCopy& c, const EngineCopy& next) { c.columns += next.columns; });
}

}  // namespace comet::kernels
