// The SimGrid engines (phase, flow, packet) live in a module, libcomet_simgrid_engines.so beside
// the executable, loaded the first time one of them is asked for. SimGrid and the ns-3 libraries
// it links take about 30 ms to map and initialise, a tenth of an analytical `simulate` at 1024
// GPUs, which needs none of them. The module's comet symbols resolve against the executable that
// loads it (comet_host_simgrid_engines() in sim/engine/CMakeLists.txt), so comet's code and state
// (stop flags, child pools) exist once.
#pragma once

#include <memory>
#include <string>

#include "executor.hpp"

namespace comet {

/// The SimGrid engine `name` ("phase", "flow" or "packet"). Loads the module on the first call
/// (thread-safe) and keeps it loaded. Throws std::runtime_error naming the module's path when it
/// cannot be loaded, and std::invalid_argument for a name the module does not know.
std::unique_ptr<Executor> load_simgrid_engine(const std::string& name);

}  // namespace comet
