// The one entry point of the SimGrid engines module (libcomet_simgrid_engines.so), which the host
// looks up by name when an engine that needs SimGrid is first asked for (simgrid_engine_loader.hpp).
#include <cstring>

#include "simgrid_engines.hpp"

/// The SimGrid engine `name` ("phase", "flow" or "packet"), owned by the caller, or nullptr for
/// any other name. C linkage: dlsym finds it by this plain name.
extern "C" comet::Executor* comet_make_simgrid_engine(const char* name) {
  if (std::strcmp(name, "phase") == 0) return comet::make_phase_engine().release();
  if (std::strcmp(name, "flow") == 0) return comet::make_flow_engine().release();
  if (std::strcmp(name, "packet") == 0) return comet::make_packet_engine().release();
  return nullptr;
}
