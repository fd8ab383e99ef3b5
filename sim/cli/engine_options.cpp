#include "engine_options.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "calibration_file.hpp"
#include "executor.hpp"

namespace comet {

void EngineOptions::add_to(CLI::App& app) {
  app.add_option("--engine", engine,
                 fmt::format("Engine: {} (default: {})", fmt::join(available_engines(), " | "), available_engines().front()));
  app.add_option("--layers", layers, "MoE layers to simulate")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--steps", steps, "Training steps to simulate")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--calibration", calibration, "Calibration YAML (comet calibrate) of the scenario's GPU (default: the shipped calibrations/<gpu>.yaml, else datasheet figures)");
}

std::string EngineOptions::engine_name() const {
  const std::string name = engine.empty() ? available_engines().front() : engine;
  make_executor(name);  // fails early on an unknown or unavailable engine
  return name;
}

CostModel EngineOptions::cost_model(const Scenario& scenario) const {
  return cost_model_for(scenario.topology.node.gpu_model, calibration);
}

std::string EngineOptions::cost_model_label(const CostModel& model) const { return model.description(); }

}  // namespace comet
