#include "assignment.hpp"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/successive_shortest_path_nonnegative_weights.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace comet {
namespace {

using Traits = boost::adjacency_list_traits<boost::vecS, boost::vecS, boost::directedS>;
struct Arc {
  long capacity = 0;
  long residual = 0;
  long weight = 0;
  Traits::edge_descriptor reverse;
};
using FlowGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, boost::no_property, Arc>;

void add_arc(FlowGraph& graph, std::size_t u, std::size_t v, long capacity, long weight) {
  const auto forward = boost::add_edge(u, v, graph).first;
  const auto backward = boost::add_edge(v, u, graph).first;
  graph[forward].capacity = capacity;
  graph[forward].weight = weight;
  graph[forward].reverse = backward;
  graph[backward].capacity = 0;
  graph[backward].weight = -weight;
  graph[backward].reverse = forward;
}

}  // namespace

std::vector<int> solve_assignment(const std::vector<double>& cost, int rows, int cols, const std::vector<int>& capacity) {
  if (rows < 0 || cols <= 0 || cost.size() != static_cast<std::size_t>(rows) * cols ||
      capacity.size() != static_cast<std::size_t>(cols))
    throw std::invalid_argument("solve_assignment: sizes do not match");
  if (std::accumulate(capacity.begin(), capacity.end(), 0L) < rows)
    throw std::invalid_argument("solve_assignment: capacities below the number of rows");
  for (double c : cost)
    if (!(c >= 0.0)) throw std::invalid_argument("solve_assignment: costs must be non-negative");

  // Integer weights: with doubles, rounding makes Dijkstra's reduced costs slightly negative
  // and Boost rejects them. Costs are scaled so the largest is 2^40; the assignment is exact
  // for the scaled costs, i.e. within 2^-40 of the largest cost per row.
  const double largest = cost.empty() ? 0.0 : *std::max_element(cost.begin(), cost.end());
  const double scale = largest > 0.0 ? std::ldexp(1.0, 40) / largest : 0.0;
  auto scaled = [&](double c) { return static_cast<long>(std::llround(c * scale)); };

  // Vertices: source, rows, columns, sink.
  const std::size_t source = 0, first_row = 1, first_col = first_row + rows, sink = first_col + cols;
  FlowGraph graph(sink + 1);
  for (int r = 0; r < rows; ++r) add_arc(graph, source, first_row + r, 1, 0);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) add_arc(graph, first_row + r, first_col + c, 1, scaled(cost[static_cast<std::size_t>(r) * cols + c]));
  for (int c = 0; c < cols; ++c) add_arc(graph, first_col + c, sink, capacity[c], 0);

  boost::successive_shortest_path_nonnegative_weights(
      graph, source, sink, boost::capacity_map(boost::get(&Arc::capacity, graph))
                               .residual_capacity_map(boost::get(&Arc::residual, graph))
                               .weight_map(boost::get(&Arc::weight, graph))
                               .reverse_edge_map(boost::get(&Arc::reverse, graph)));
  // Read the flow back after the graph is complete: edge descriptors of a vecS adjacency list
  // point into vectors that move while edges are added, so none are kept from building.
  std::vector<int> column(rows, -1);
  for (int r = 0; r < rows; ++r)
    for (auto e : boost::make_iterator_range(boost::out_edges(first_row + r, graph))) {
      const std::size_t target = boost::target(e, graph);
      const Arc& arc = graph[e];
      if (target >= first_col && target < sink && arc.capacity == 1 && arc.residual == 0)
        column[r] = static_cast<int>(target - first_col);
    }
  for (int c : column)
    if (c < 0) throw std::logic_error("solve_assignment: flow did not cover every row");
  return column;
}

double assignment_cost(const std::vector<double>& cost, int cols, const std::vector<int>& column) {
  double total = 0.0;
  for (std::size_t r = 0; r < column.size(); ++r) total += cost[r * cols + column[r]];
  return total;
}

}  // namespace comet
