// The shipped topology and scenario files, compiled into the binary so that `comet` works from
// any directory and with no file at all (the built-in default scenario). The text is generated
// at build time from topologies/*.yaml, scenarios/*.yaml and calibrations/*.yaml (see sim/core/CMakeLists.txt).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace comet {

struct BuiltinFile {
  std::string_view name;  ///< file name without extension: "fat-tree-1024"
  std::string_view text;  ///< the YAML text
};

const std::vector<BuiltinFile>& builtin_topologies();
const std::vector<BuiltinFile>& builtin_scenarios();
/// Measured cost models shipped for a GPU model, named by it ("h200").
const std::vector<BuiltinFile>& builtin_calibrations();

/// The shipped topology or scenario of that name, if any.
std::optional<BuiltinFile> find_builtin_topology(std::string_view name);
std::optional<BuiltinFile> find_builtin_scenario(std::string_view name);
std::optional<BuiltinFile> find_builtin_calibration(std::string_view name);

/// Name of the scenario `comet` runs when no file is given.
inline constexpr std::string_view DEFAULT_SCENARIO = "default";

}  // namespace comet
