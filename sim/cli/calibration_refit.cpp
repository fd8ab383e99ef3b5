#include "calibration_refit.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "calibration_record.hpp"
#include "calibration_report.hpp"
#include "command_runner.hpp"
#include "input_error.hpp"

namespace comet {

int run_calibration_refit(const std::vector<std::string>& args) {
  CLI::App app{"comet calibrate --fit-runs: fit a cost model from recorded calibration runs, without a GPU"};
  std::string runs, output = "calibration.yaml";
  app.add_option("--fit-runs", runs, "Calibration runs recorded by comet calibrate --runs")->required();
  app.add_option("-o,--output", output, "Calibration YAML to write (atomically)")->capture_default_str();
  if (!parse_forwarded(app, args, "calibrate --fit-runs", "comet calibrate --fit-runs FILE [-o FILE]")) return 0;
  report_calibration(fit_recorded_runs(runs), fmt::format("comet calibrate --fit-runs {}", runs), output);
  return 0;
}

}  // namespace comet
