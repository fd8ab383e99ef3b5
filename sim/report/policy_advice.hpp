// The "what to pick and why" paragraph of the compare report, computed from the numbers:
// the best combination and its speedup, where the gain comes from (hidden communication or
// compute), what its placement does to cross-node traffic, which policy family matters most,
// near ties, and whether a link still bounds the layer.
#pragma once

#include <string>
#include <vector>

#include "result_fields.hpp"

namespace comet {

/// `ranked`: results best first; `baseline`: the contiguous / none / direct result (also in
/// `ranked` when it was compared). Returns plain-text sentences.
std::vector<std::string> policy_advice(const std::vector<Result>& ranked, const Result& baseline);

}  // namespace comet
