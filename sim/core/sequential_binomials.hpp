// How a source's token copies are spread over experts: sequential binomials, drawn expert by
// expert over many sources so that sources with the same copies left share the binomial's
// parameters. Workload::generate draws every source this way.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace comet {

/// One source to draw: its own stream, the copies it has left to place, and its row of per-expert
/// counts (written at the experts it places copies on; the others are left as they are).
struct SourceDraw {
  std::mt19937_64 rng;
  std::int64_t remaining = 0;
  std::int32_t* row = nullptr;
};

/// Places every source's copies over experts with probabilities `p` (summing to 1): expert e
/// gets Binomial(copies left, p_e / probability left), the last expert what is left, each draw
/// from the source's stream in expert order; a source stops drawing once it has none left. The
/// counts are exactly those of drawing each source alone, with a fresh
/// std::binomial_distribution(copies left, p_e / probability left) per expert.
void draw_sequential_binomials(const std::vector<double>& p, std::vector<SourceDraw>& sources);

}  // namespace comet
