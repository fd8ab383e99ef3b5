#include "sequential_binomials.hpp"

#include <algorithm>
#include <optional>
#include <utility>

namespace comet {

// Expert by expert over the sources: at one expert every source has the same probability, and
// many have the same copies left (at 1024 GPUs x 256 experts, half the draws), so the binomial's
// parameters (lgamma and logs: 40% of a draw's instructions) are built once per distinct count.
// Each draw is a fresh distribution on them, as when every source was drawn alone.
void draw_sequential_binomials(const std::vector<double>& p, std::vector<SourceDraw>& sources) {
  using Binomial = std::binomial_distribution<std::int64_t>;
  const int experts = static_cast<int>(p.size());
  std::vector<SourceDraw*> active;
  double remaining_mass = 1.0;
  for (int e = 0; e < experts; ++e) {
    active.clear();
    for (SourceDraw& source : sources)
      if (source.remaining > 0) active.push_back(&source);
    if (active.empty()) return;
    const double q = remaining_mass > 0.0 ? std::clamp(p[e] / remaining_mass, 0.0, 1.0) : 0.0;
    if (e + 1 == experts || q >= 1.0) {
      for (SourceDraw* source : active) source->row[e] = static_cast<std::int32_t>(std::exchange(source->remaining, 0));
    } else {
      std::sort(active.begin(), active.end(), [](const SourceDraw* a, const SourceDraw* b) { return a->remaining < b->remaining; });
      std::optional<Binomial::param_type> params;
      for (SourceDraw* source : active) {
        if (!params || params->t() != source->remaining) params.emplace(source->remaining, q);
        const std::int64_t n = Binomial(*params)(source->rng);
        source->row[e] = static_cast<std::int32_t>(n);
        source->remaining -= n;
      }
    }
    remaining_mass -= p[e];
  }
}

}  // namespace comet
