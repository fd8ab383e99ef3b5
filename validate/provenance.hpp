// Where a measurement was taken: what `comet calibrate` writes into a calibration file and
// `comet validate` into a measured JSON, so a figure can be traced to a card, a driver and the
// library versions it ran with.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace comet {

/// gpu_name and gpu_sm_count (device 0), gpus (visible), driver and cuda_runtime (CUDA version
/// numbers as "13.0"), cublas, nccl, date (UTC, ISO 8601), command (`argv` joined), nccl_env
/// (every NCCL_* variable set, "KEY=VALUE ..."), comet_version. Keys as in PROVENANCE_KEYS.
std::vector<std::pair<std::string, std::string>> measurement_provenance(const std::string& command);

/// `argv` as one shell-readable line.
std::string command_line(int argc, char** argv);

}  // namespace comet
