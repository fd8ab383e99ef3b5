// Exact transportation / assignment: put each of `rows` items (experts) on a column (GPU
// position) with a capacity (slots), minimizing the summed cost. Solved as a min-cost flow with
// Boost.Graph's successive shortest paths (Dijkstra with potentials), as DESIGN.md asks: an
// existing exact solver before any hand-written Jonker-Volgenant (see BENCHMARKS.md for times).
#pragma once

#include <vector>

namespace comet {

/// `cost` is rows x cols, row-major, non-negative. The capacities must add up to at least
/// `rows`. Returns the column of each row. Throws std::invalid_argument on bad sizes.
std::vector<int> solve_assignment(const std::vector<double>& cost, int rows, int cols,
                                  const std::vector<int>& capacity);

/// Σ cost[r][column[r]].
double assignment_cost(const std::vector<double>& cost, int cols, const std::vector<int>& column);

}  // namespace comet
