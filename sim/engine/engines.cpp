#include <fmt/format.h>
#include <fmt/ranges.h>

#include "a2a_footprint.hpp"
#include "analytical_engine.hpp"
#include "executor.hpp"
#include "input_error.hpp"
#ifdef COMET_HAVE_SIMGRID
#include "simgrid_engine_loader.hpp"
#endif

namespace comet {

std::vector<std::string> available_engines() {
#ifdef COMET_HAVE_SIMGRID
  return {"phase", "analytical", "flow", "packet"};
#else
  return {"analytical"};
#endif
}

std::unique_ptr<Executor> make_executor(const std::string& name) {
  if (name == "analytical") return std::make_unique<AnalyticalEngine>();
#ifdef COMET_HAVE_SIMGRID
  if (name == "phase" || name == "flow" || name == "packet") return load_simgrid_engine(name);
#else
  if (name == "phase" || name == "flow" || name == "packet")
    throw InputError({"<command line>", 0, 0}, "--engine", name,
                     "this build has no SimGrid (configured with COMET_WITH_SIMGRID=OFF or SimGrid not found); "
                     "use --engine analytical");
#endif
  throw InputError({"<command line>", 0, 0}, "--engine", name,
                   fmt::format("unknown engine; expected one of: {}", fmt::join(available_engines(), ", ")));
}

std::string engine_caveat(const std::string& engine, const Topology& topology) {
  const double over = topology.oversubscription();
  if ((engine != "phase" && engine != "analytical") || over <= 1.0 + 1e-9 || pacing_applies(topology)) return "";
  return fmt::format("the switch links carry {:.3g}x less per GPU than the NICs and all-to-alls are not paced here ({}): "
                     "the {} engine moves each all-to-all's transfers in step, a lower bound there (17% below per-flow "
                     "max-min for a skewed 128-GPU 4:1 tree, 31% at 256 GPUs: docs/engines.md); --engine flow is the "
                     "reference up to 2048 GPUs",
                     over,
                     topology.single_path() ? "COMET_A2A_PACING=none"
                                            : "several paths between leaves, where pacing's coalesced flows are no closer to per-flow max-min",
                     engine);
}

}  // namespace comet
