#include "calibrate_command.hpp"

#include "real_run_options.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "atomic_file.hpp"
#include "calibration_report.hpp"
#include "calibration_runs.hpp"
#include "gpu_error.hpp"
#include "input_error.hpp"
#include "moe_model.hpp"
#include "policy_spec.hpp"
#include "provenance.hpp"
#include "scenario_argument.hpp"
#include "yaml_input.hpp"

namespace comet {
namespace {

// A one-node scenario of `gpus` GPUs of `gpu` running `model` with every expert in one group, as YAML.
std::string preset_scenario_text(const std::string& model, int gpus, const std::string& gpu) {
  return fmt::format(
      "name: calibrate-{0}\n"
      "topology: {{name: node-{1}, kind: node, node: {{gpus: {1}, fabric: nvswitch, gpu_link_bandwidth: 450GB/s, nics: 0, gpu: {2}}}}}\n"
      "model: {{preset: {0}}}\n"
      "parallelism: {{expert_parallel: {1}}}\n"
      "workload: {{tokens_per_gpu: 4096, steps: 1, seed: 1, routing: {{kind: uniform}}}}\n"
      "policies: {{placement: [contiguous], partition: [none], a2a: [direct]}}\n",
      model, gpus, gpu);
}

}  // namespace

void CalibrateCommand::add_to(CLI::App& app) {
  app_ = app.add_subcommand("calibrate", "Measure the cost model on this machine's GPUs with the real kernels and write a "
                                         "calibration YAML (comet calibrate --help)");
  app_->add_option("scenarios", files_, "Scenarios whose model shapes to measure (default: --models on --gpus GPUs)");
  app_->add_option("--models", models_, "Model presets measured when no scenario is given")->capture_default_str()->delimiter(',')->allow_extra_args(false);
  app_->add_option("--gpu", gpu_, "GPU model the default set is written for")->check(CLI::IsMember({"h100-sxm", "h200"}))
      ->capture_default_str();
  app_->add_option("--gpus", gpus_, "GPUs of the default set's node (one expert-parallel group; under mpirun, default: one per process)")->capture_default_str()
      ->check(CLI::Range(1, 64));
  app_->add_option("-o,--output", output_, "Calibration YAML to write (atomically)")->capture_default_str();
  app_->add_option("--tokens", tokens_, "Token loads per GPU measured (uniform routing)")->capture_default_str()->delimiter(',')->allow_extra_args(false)
      ->check(CLI::PositiveNumber);
  app_->add_option("--chunks", chunks_, "Chunk counts each load is cut into (the expert GEMMs' M ranges over them)")
      ->capture_default_str()->delimiter(',')->allow_extra_args(false)->check(CLI::Range(1, 64));
  app_->add_option("--fused-blocks", fused_blocks_,
                   "Transfer blocks B of the comet:B Plans also measured at each load, on one GPU (the fused kernels' "
                   "GEMM scale per B; 0: none)")
      ->capture_default_str()
      ->delimiter(',')
      ->allow_extra_args(false)
      ->check(CLI::Range(0, 1024));
  add_real_run_options(*app_, options_, "Plan");
  app_->add_option("--runs", runs_,
                   "Also write every measured calibration Plan here (JSON); `comet calibrate --fit-runs FILE -o OUT` fits "
                   "it again on any machine, without a GPU");
}

int CalibrateCommand::run() const {
  CalibrationRequest request;
  // Under mpirun the default set runs on the job's GPUs, one process each.
  const int gpus = mpi_ && app_->count("--gpus") == 0 ? mpi_->size : gpus_;
  if (files_.empty())
    for (const std::string& model : models_) {
      if (!find_model_preset(model)) throw InputError({"<command line>", 0, 0}, "--models", model, "a model preset");
      request.scenario_texts.push_back(preset_scenario_text(model, gpus, gpu_));
      request.scenarios.push_back(parse_scenario(load_yaml_text(request.scenario_texts.back(), "calibrate-" + model), "."));
    }
  for (const std::string& file : files_) {
    request.scenarios.push_back(load_scenario_argument(file));
    request.scenario_texts.push_back(scenario_argument_text(file));
  }
  const std::string gpu_model = request.scenarios.front().topology.node.gpu_model;
  for (const Scenario& s : request.scenarios)
    if (s.topology.node.gpu_model != gpu_model)
      throw InputError({s.origin, 0, 0}, "topology.node.gpu", s.topology.node.gpu_model,
                       fmt::format("the same GPU as the first scenario ({}): one calibration is of one GPU", gpu_model));
  request.tokens_per_gpu = tokens_;
  request.chunk_counts = chunks_;
  request.fused_blocks.clear();
  for (int blocks : fused_blocks_) {
    if (blocks == 0) {
      if (fused_blocks_.size() > 1)
        throw InputError({"<command line>", 0, 0}, "--fused-blocks", fmt::format("{}", fmt::join(fused_blocks_, ",")),
                         "0 alone (no comet:B Plans) or block counts");
      continue;
    }
    if (!request.fused_blocks.empty() && blocks <= request.fused_blocks.back())
      throw InputError({"<command line>", 0, 0}, "--fused-blocks", fmt::format("{}", fmt::join(fused_blocks_, ",")),
                       "block counts in increasing order");
    try {  // comet:B's rules (even, whole clusters of two), named as given here
      parse_policy(PolicyFamily::PARTITION, fmt::format("comet:{}", blocks));
    } catch (const InputError& e) {
      throw InputError({"<command line>", 0, 0}, "--fused-blocks", std::to_string(blocks), e.expected());
    }
    request.fused_blocks.push_back(blocks);
  }
  request.options = options_;
  request.options.mpi = mpi_;
  request.base = CostModel::defaults_for(gpu_model);
  request.progress = [](const std::string& line) { fmt::print(stderr, "comet calibrate: {}\n", line); };
  CalibrationResult result;
  try {
    result = run_calibration(request);
  } catch (const GpuError& error) {
    fmt::print(stderr, "comet: GPU error: {}\n", error.what());
    return EXIT_GPU_FAILURE;
  }
  if (mpi_ && !mpi_->root()) return 0;  // rank 0 fits, prints and writes
  result.fit.model.source.provenance = measurement_provenance(command_);
  if (!runs_.empty()) write_file_atomically(runs_, calibration_runs_json(result.runs, result.fit.model.source.provenance).dump(1) + "\n");
  report_calibration(result.fit,
                     fmt::format("comet calibrate: {} scenario(s), tokens/GPU {}, chunks {}, fused blocks {}, {}{}",
                                 request.scenarios.size(), fmt::join(tokens_, ","), fmt::join(chunks_, ","),
                                 fmt::join(fused_blocks_, ","),
                                 real_run_description(options_),
                                 runs_.empty() ? "" : ", measurements in " + runs_),
                     output_);
  return 0;
}

}  // namespace comet
