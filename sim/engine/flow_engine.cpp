// Placeholder until the flow engine lands (next commit).
#include <stdexcept>

#include "simgrid_engines.hpp"

namespace comet {
std::unique_ptr<Executor> make_flow_engine() { throw std::runtime_error("the flow engine is not built yet"); }
std::unique_ptr<Executor> make_packet_engine() { throw std::runtime_error("the packet engine is not built yet"); }
}  // namespace comet
