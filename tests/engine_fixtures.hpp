// What the engine tests share: a cost model that makes closed forms exact, and the engines to run.
#pragma once

#include <string>
#include <vector>

#include "cost_model.hpp"
#include "executor.hpp"

namespace comet::testing {

/// A cost model whose links deliver their full bandwidth and nothing interferes with transfers,
/// so closed forms are exact.
inline CostModel ideal_links() {
  CostModel model = CostModel::defaults_for("h100-sxm");
  model.link_efficiency.fill(1.0);
  model.comm_sm_share = 0.0;
  model.comm_slowdown_with_compute = 0.0;
  model.a2a_per_message_s = 0.0;
  return model;
}

/// Every engine this build has but `packet` (its own tests: it is the flow engine per packet).
inline std::vector<std::string> engines_under_test() {
  std::vector<std::string> engines;
  for (const std::string& e : available_engines())
    if (e != "packet") engines.push_back(e);
  return engines;
}

}  // namespace comet::testing
