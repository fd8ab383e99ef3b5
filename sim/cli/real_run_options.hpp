// The options `comet validate` and `comet calibrate` share: how the real executor runs and
// times each Plan (real_executor.hpp's RealRunOptions), under the same names and help in both.
#pragma once

#include <CLI/CLI.hpp>

#include "real_executor.hpp"

namespace comet {

/// Adds --warmup, --repeats, --passes, --heat-seconds, --lead-in-ms, --expert-lanes and
/// --watchdog, writing into `options` (its current values are the defaults shown; --lead-in-ms
/// is stored in seconds). `unit` names what one job is in the help ("policy", "Plan").
void add_real_run_options(CLI::App& app, RealRunOptions& options, const std::string& unit);

/// One preamble line: how each job was run and timed.
std::string real_run_description(const RealRunOptions& options);

}  // namespace comet
