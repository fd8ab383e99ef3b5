// Runs SimGrid simulations in forked children: SimGrid keeps one engine per process, and a
// failing model (ns-3 aborts on some message sizes) must not take comet down or hang it.
// Independent parts of one Plan run in children side by side, one per core.
#pragma once

#include <functional>
#include <simgrid/s4u.hpp>
#include <string>
#include <vector>

namespace comet {

/// Builds SimGrid engine `engine`'s part `index` of a simulation and returns the doubles it reports.
using SimgridPart = std::function<std::vector<double>(int index, simgrid::s4u::Engine&)>;

/// Runs parts 0 .. count-1, each in a forked child that creates a SimGrid engine with `configs`
/// (each "name:value", passed as --cfg=...), calls `simulate` and sends back its doubles; up to
/// engine_jobs() children at once. Returns the results in part order. Throws std::runtime_error
/// naming `engine` when a child fails, crashes or runs past `timeout_s` (the others are stopped).
std::vector<std::vector<double>> run_simgrid_children(const std::string& engine, const std::vector<std::string>& configs,
                                                      double timeout_s, int count, const SimgridPart& simulate);

/// One part: run_simgrid_children with count 1.
std::vector<double> run_simgrid_child(const std::string& engine, const std::vector<std::string>& configs,
                                      double timeout_s,
                                      const std::function<std::vector<double>(simgrid::s4u::Engine&)>& simulate);

/// Children one simulation may run at once: COMET_ENGINE_JOBS when set (a whole number >= 1,
/// else InputError), else the cores this process may use.
int engine_jobs();

}  // namespace comet
