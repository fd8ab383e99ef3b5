// The table and the HTML page of `comet sweep`: one line chart per metric, x being the first
// --set key's values and one line per combination of the other keys' values.
#pragma once

#include <string>
#include <vector>

#include "result_fields.hpp"
#include "text_table.hpp"

namespace comet {

struct SweepReport {
  std::string scenario;
  std::vector<std::string> parameters;         ///< one line each: scenario, engine, policies, keys
  std::vector<std::string> keys;               ///< the --set keys, in command-line order
  std::vector<std::vector<std::string>> values;  ///< per key, its values in order
  /// Finished points in point order; each has "point" and "set" ({key: value}) before the
  /// `comet simulate --json` keys.
  std::vector<Result> results;
  int total_points = 0;
};

/// point, one column per key, then the report metrics.
Table sweep_table(const SweepReport& report);
std::string sweep_html(const SweepReport& report);

}  // namespace comet
