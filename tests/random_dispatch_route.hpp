// Random ragged dispatch routes for the host tests of the kernels' schedules: zero-row experts
// (one in five) and a source that sends nothing, within the limits a test can afford to check.
#pragma once

#include <cstdint>
#include <random>

#include "fused_schedule.hpp"

namespace comet::kernels {

/// Upper bounds of a random route (lower bounds: 1 source, 0 experts, 0 rows).
struct RouteLimits {
  int sources = 9;
  int experts = 12;
  std::int64_t rows = 300;  ///< per expert and source
};

inline DispatchRoute random_dispatch_route(std::mt19937_64& rng, const RouteLimits& limits = {}) {
  DispatchRoute route;
  route.sources = std::uniform_int_distribution<int>(1, limits.sources)(rng);
  route.experts = std::uniform_int_distribution<int>(0, limits.experts)(rng);
  route.local_source = std::uniform_int_distribution<int>(0, route.sources - 1)(rng);
  const int silent_source = std::uniform_int_distribution<int>(0, route.sources - 1)(rng);  // sends nothing
  for (int e = 0; e < route.experts; ++e) {
    const bool empty_expert = std::uniform_int_distribution<int>(0, 4)(rng) == 0;
    for (int s = 0; s < route.sources; ++s)
      route.rows.push_back(empty_expert || s == silent_source ? 0
                                                              : std::uniform_int_distribution<std::int64_t>(0, limits.rows)(rng));
  }
  return route;
}

}  // namespace comet::kernels
