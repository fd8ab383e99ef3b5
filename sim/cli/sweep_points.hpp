// The points of `comet sweep`: each --set KEY=V1,V2,... is an axis; the points are the cross
// product of the axes, the first axis varying slowest.
#pragma once

#include <string>
#include <vector>

#include "scenario_settings.hpp"

namespace comet {

struct SweepAxis {
  std::string key;
  std::vector<std::string> values;
};

/// Parses "KEY=V1,V2,...". Commas inside [...], {...} or quotes belong to a value, so a list
/// can be one value: topology.tree.oversubscription=[2],[4]. Errors name --set and the text.
SweepAxis parse_sweep_axis(const std::string& text);

/// Every --set option; a key given twice is an error.
std::vector<SweepAxis> parse_sweep_axes(const std::vector<std::string>& texts);

/// The cross product (at most MAX_SWEEP_POINTS points).
std::vector<std::vector<ScenarioSetting>> sweep_points(const std::vector<SweepAxis>& axes);

inline constexpr std::size_t MAX_SWEEP_POINTS = 10000;

}  // namespace comet
