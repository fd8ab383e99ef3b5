// The --engine, --layers, --steps and --calibration options that simulate, compare and sweep
// share, and what they resolve to.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "cost_model.hpp"
#include "scenario.hpp"

namespace comet {

struct EngineOptions {
  std::string engine, calibration;
  int layers = 1;
  int steps = 1;

  void add_to(CLI::App& app);
  /// The chosen engine (default: the first one built); throws InputError if unknown or not built.
  std::string engine_name() const;
  /// The calibration file's cost model, or the built-in defaults of the scenario's GPU.
  CostModel cost_model(const Scenario& scenario) const;
  /// How reports name the cost model: "h100-sxm defaults" or the calibration file.
  std::string cost_model_label(const CostModel& model) const;
};

}  // namespace comet
