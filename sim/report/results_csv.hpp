// results.csv of `comet compare` and `comet sweep`: one row per result object, one column per
// scalar field; nested objects are flattened with dotted names (bytes_by_tier.leaf,
// set.workload.tokens_per_gpu); arrays (the per-direction rows) are left to results.json.
// Numbers are written in their shortest exact form, so they read back to the same doubles.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace comet {

std::string results_csv(const std::vector<nlohmann::ordered_json>& results);

/// One CSV field: quoted (with doubled quotes) when it holds a comma, quote or line break.
std::string csv_field(const std::string& text);

}  // namespace comet
