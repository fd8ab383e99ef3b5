// Calibration files: a CostModel as YAML (schema in docs/file-formats.md, "Calibration files"),
// with the provenance of its measurements, and the choice of cost model for a scenario.
#pragma once

#include <filesystem>
#include <string>

#include "cost_model.hpp"

namespace comet {

/// Keys a calibration's `provenance` map may have (each a string).
inline constexpr std::string_view PROVENANCE_KEYS[] = {"gpu_name", "gpu_sm_count", "gpus", "driver", "cuda_runtime", "cublas",
                                                       "nccl", "date", "command", "nccl_env", "comet_version"};

/// Reads a calibration file. Unknown keys, bad values (a negative bandwidth, a table whose M
/// values do not increase) and a missing file throw InputError naming file, line, key and value.
CostModel load_cost_model(const std::filesystem::path& path);
/// The same from text (`origin` names it in messages: built-in calibrations, measured JSON).
CostModel load_cost_model_text(const std::string& text, const std::string& origin);
/// The YAML text of a cost model, readable by load_cost_model (round trip: same model).
std::string cost_model_yaml(const CostModel& model);

/// The cost model a command runs for `gpu_model`: the calibration file when one is given (an
/// InputError naming `option` when its GPU is not `gpu_model`: a calibration never silently
/// replaces the scenario's GPU), else the shipped calibration of that GPU (calibrations/), else
/// the datasheet defaults.
CostModel cost_model_for(const std::string& gpu_model, const std::filesystem::path& calibration,
                         const std::string& option = "--calibration");

}  // namespace comet
