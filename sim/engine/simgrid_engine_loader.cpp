#include "simgrid_engine_loader.hpp"

#include <dlfcn.h>
#include <fmt/format.h>

#include <filesystem>
#include <stdexcept>

namespace comet {
namespace {

using MakeEngine = Executor* (*)(const char*);

// The module's path: beside the executable, where the build puts it.
std::filesystem::path module_path() {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) throw std::runtime_error(fmt::format("cannot find this executable's directory (/proc/self/exe): {}", error.message()));
  return self.parent_path() / COMET_SIMGRID_ENGINES_MODULE;
}

MakeEngine load_entry_point() {
  const std::filesystem::path path = module_path();
  // RTLD_NOW: a symbol the module misses is reported here, not as a crash mid-simulation.
  void* module = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (module == nullptr)
    throw std::runtime_error(fmt::format("cannot load the SimGrid engines (phase, flow, packet) from {}: {}; the build "
                                         "puts this module beside the comet binary (--engine analytical needs no SimGrid)",
                                         path.string(), ::dlerror()));
  auto* entry = reinterpret_cast<MakeEngine>(::dlsym(module, "comet_make_simgrid_engine"));
  if (entry == nullptr)
    throw std::runtime_error(fmt::format("{} has no comet_make_simgrid_engine: {}", path.string(), ::dlerror()));
  return entry;
}

}  // namespace

std::unique_ptr<Executor> load_simgrid_engine(const std::string& name) {
  static const MakeEngine make = load_entry_point();  // once per process; the module stays loaded
  std::unique_ptr<Executor> engine(make(name.c_str()));
  if (!engine) throw std::invalid_argument(fmt::format("the SimGrid engines module has no engine '{}'", name));
  return engine;
}

}  // namespace comet
