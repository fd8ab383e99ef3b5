#include "simgrid_child.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "child_pool.hpp"
#include "environment.hpp"

namespace comet {
namespace {

// What a child runs: a fresh SimGrid engine for one part; its doubles as raw bytes.
std::string simulate_in_child(const std::string& engine, const std::vector<std::string>& configs, double timeout_s,
                              int index, const SimgridPart& simulate) {
  ::alarm(static_cast<unsigned>(std::ceil(timeout_s)));  // never a hang: SIGALRM ends the child
  // COMET_SIMGRID_LOG=root.thres:info (any --log setting) shows SimGrid's own messages.
  const char* log = std::getenv("COMET_SIMGRID_LOG");
  std::vector<std::string> words{"comet-" + engine, std::string("--log=") + (log ? log : "root.thres:critical")};
  for (const std::string& c : configs) words.push_back("--cfg=" + c);
  // COMET_SIMGRID_CFG="name:value,name:value" adds SimGrid settings, for experiments.
  if (const char* extra = std::getenv("COMET_SIMGRID_CFG")) {
    std::string rest = extra;
    for (std::size_t comma; !rest.empty(); rest = comma == std::string::npos ? "" : rest.substr(comma + 1)) {
      comma = rest.find(',');
      words.push_back("--cfg=" + rest.substr(0, comma));
    }
  }
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  int argc = static_cast<int>(words.size());
  simgrid::s4u::Engine sg(&argc, argv.data());
  const std::vector<double> result = simulate(index, sg);
  return std::string(reinterpret_cast<const char*>(result.data()), result.size() * sizeof(double));
}

std::vector<double> decode(const std::string& engine, double timeout_s, const ChildOutcome& outcome) {
  if (outcome.signal != 0)
    throw std::runtime_error(outcome.signal == SIGALRM
                                 ? fmt::format("the {} engine ran past its {:.0f} s limit and was stopped", engine, timeout_s)
                                 : fmt::format("the {} engine's simulation died ({}){}", engine, strsignal(outcome.signal),
                                               engine == "packet" ? "; SimGrid's ns-3 model aborts at some message sizes: "
                                                                    "use it on small cross-checks only"
                                                                  : "; SimGrid printed the reason above"));
  if (outcome.failed) throw std::runtime_error(fmt::format("the {} engine failed: {}", engine, outcome.output));
  if (outcome.output.size() % sizeof(double) != 0)
    throw std::runtime_error(fmt::format("the {} engine's simulation sent a truncated result", engine));
  std::vector<double> result(outcome.output.size() / sizeof(double));
  std::memcpy(result.data(), outcome.output.data(), outcome.output.size());
  return result;
}

}  // namespace

int engine_jobs() { return environment_int("COMET_ENGINE_JOBS", 1).value_or(available_cores()); }

std::vector<std::vector<double>> run_simgrid_children(const std::string& engine, const std::vector<std::string>& configs,
                                                      double timeout_s, int count, const SimgridPart& simulate) {
  std::vector<std::vector<double>> results(static_cast<std::size_t>(count));
  std::optional<std::runtime_error> failure;
  ChildPoolTasks tasks;
  tasks.num_items = count;
  tasks.jobs = std::min(count, engine_jobs());
  tasks.work = [&](int index) { return simulate_in_child(engine, configs, timeout_s, index, simulate); };
  tasks.on_finished = [&](int index, const ChildOutcome& outcome) {
    try {
      results[static_cast<std::size_t>(index)] = decode(engine, timeout_s, outcome);
      return true;
    } catch (const std::runtime_error& error) {
      failure = error;
      return false;  // the pool stops the other parts
    }
  };
  run_child_pool(tasks);
  if (failure) throw *failure;
  return results;
}

std::vector<double> run_simgrid_child(const std::string& engine, const std::vector<std::string>& configs,
                                      double timeout_s,
                                      const std::function<std::vector<double>(simgrid::s4u::Engine&)>& simulate) {
  return run_simgrid_children(engine, configs, timeout_s, 1,
                              [&](int, simgrid::s4u::Engine& sg) { return simulate(sg); })
      .front();
}

}  // namespace comet
