// `comet calibrate` without the terminal: the calibration Plans (each model shape at several
// token loads, uniform routing, cut into 1, 2, 4 and 8 chunks, so the expert GEMMs run over a
// range of M; on one GPU also comet:B, the fused kernels' Plan), measured on this machine's GPUs
// with the real executor, then the fit (calibration_fit.hpp). All-to-all ops are measured and
// fitted when the scenario has 2+ GPUs.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "calibration_fit.hpp"
#include "calibration_record.hpp"
#include "real_executor.hpp"
#include "scenario.hpp"

namespace comet {

struct CalibrationRequest {
  std::vector<Scenario> scenarios;           ///< shapes to measure (each must fit this machine)
  std::vector<std::string> scenario_texts;   ///< their YAML, recorded with each measured Plan
  std::vector<std::int64_t> tokens_per_gpu{1024, 4096, 16384};
  std::vector<int> chunk_counts{1, 2, 4, 8};
  /// B of the comet:B Plans measured at each load where the fused kernels run (one GPU: `comet
  /// validate` runs comet:B on one GPU only; a GPU and build that has them); empty: none.
  std::vector<int> fused_blocks{8, 16};
  RealRunOptions options;                    ///< warm-up, repeats, lanes, graphs, watchdog
  CostModel base;                            ///< figures not measured stay as here
  std::function<void(const std::string&)> progress;  ///< one line per measured Plan (stderr)
};

struct CalibrationResult {
  CalibrationFit fit;
  std::vector<RecordedRun> runs;  ///< what was measured (calibration_runs_json)
};

/// Throws InputError when a scenario does not fit the machine, GpuError when the GPUs fail.
CalibrationResult run_calibration(const CalibrationRequest& request);

}  // namespace comet
