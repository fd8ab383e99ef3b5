// The SimGrid engines (built when SimGrid is found):
//   phase   one parallel task (ptask_L07) per all-to-all op, max-min sharing with everything
//           running at the same time (the default engine);
//   flow    one SimGrid flow per (source node, destination node, destination rail) and per
//           GPU pair inside a node, CM02 max-min, cross-traffic off, precision 1e-6: flows of
//           different sizes finish at different times;
//   packet  the flow engine's platform under SimGrid's ns-3 model (small clusters only).
// Each simulation runs in a child process (SimGrid allows one engine per process and aborts on
// some ns-3 message sizes); its op times come back through a pipe. See docs/engines.md.
#pragma once

#include <memory>

#include "executor.hpp"

namespace comet {

std::unique_ptr<Executor> make_phase_engine();
std::unique_ptr<Executor> make_flow_engine();
std::unique_ptr<Executor> make_packet_engine();

}  // namespace comet
