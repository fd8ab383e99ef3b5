// Writes the commented scenario file of `comet init` (the `comet-init` step of a COMET
// deployment): a self-contained scenario with an inline topology sized to the request.
#pragma once

#include <string>

namespace comet {

struct InitRequest {
  std::string cluster_type;  ///< "tree", "fat-tree" or "rail"
  int gpus = 0;              ///< a multiple of 8 (DGX-H100-like nodes of 8 GPUs)
  int experts = 0;
  std::string model = "deepseek-v3";
  long tokens_per_gpu = 4096;
};

/// The scenario text. Throws InputError ("<command line>") for requests that cannot give a
/// valid scenario (GPUs not a multiple of 8, fewer experts than the model's top-k, ...).
std::string write_init_scenario(const InitRequest& request);

}  // namespace comet
