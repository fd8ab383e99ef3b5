// Runs a SimGrid simulation in a forked child: SimGrid keeps one engine per process, and a
// failing model (ns-3 aborts on some message sizes) must not take comet down or hang it.
#pragma once

#include <functional>
#include <simgrid/s4u.hpp>
#include <string>
#include <vector>

namespace comet {

/// Forks; the child creates a SimGrid engine with `configs` (each "name:value", passed as
/// --cfg=...), calls `simulate` and sends back the doubles it returns. Throws std::runtime_error
/// naming `engine` when the child fails, crashes or runs past `timeout_s`.
std::vector<double> run_simgrid_child(const std::string& engine, const std::vector<std::string>& configs,
                                      double timeout_s,
                                      const std::function<std::vector<double>(simgrid::s4u::Engine&)>& simulate);

}  // namespace comet
