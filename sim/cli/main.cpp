// The `comet` command line. Subcommands live in one file each; main() only parses, dispatches,
// and turns errors into messages and exit codes:
//   0 success, 2 bad input (files, options), 3 internal error.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bench_command.hpp"
#include "check_command.hpp"
#include "compare_command.hpp"
#include "cost_model_command.hpp"
#include "init_command.hpp"
#include "placement_command.hpp"
#include "plan_command.hpp"
#include "simulate_command.hpp"
#include "sweep_command.hpp"
#include "workload_command.hpp"
#ifdef COMET_HAVE_CUDA
#include "validate_command.hpp"
#endif
#include "input_error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"comet: simulate and validate communication policies for Mixture-of-Experts layers "
               "on GPU clusters"};
  app.set_version_flag("--version", std::string("comet ") + COMET_VERSION);
  app.require_subcommand(1);
  app.failure_message(CLI::FailureMessage::help);

  std::vector<std::unique_ptr<comet::Command>> commands;
  commands.push_back(std::make_unique<comet::CheckCommand>());
  commands.push_back(std::make_unique<comet::InitCommand>());
  commands.push_back(std::make_unique<comet::WorkloadCommand>());
  commands.push_back(std::make_unique<comet::PlacementCommand>());
  commands.push_back(std::make_unique<comet::PlanCommand>());
  commands.push_back(std::make_unique<comet::SimulateCommand>());
  commands.push_back(std::make_unique<comet::CompareCommand>());
  commands.push_back(std::make_unique<comet::SweepCommand>());
  commands.push_back(std::make_unique<comet::CostModelCommand>());
  commands.push_back(std::make_unique<comet::BenchCommand>());
#ifdef COMET_HAVE_CUDA
  commands.push_back(std::make_unique<comet::ValidateCommand>());
#endif
  for (const auto& command : commands) command->add_to(app);

  // CLI11 would only say "a subcommand is required" for a mistyped one; name it instead.
  if (argc > 1 && argv[1][0] != '-') {
    const std::string word = argv[1];
    bool known = false;
    std::string names;
    for (const CLI::App* sub : app.get_subcommands({})) {
      known = known || sub->get_name() == word;
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known) {
      fmt::print(stderr, "comet: error: unknown subcommand '{}'; expected one of: {}\n", word, names);
      return comet::EXIT_BAD_INPUT;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help and --version are "errors" with exit code 0 in CLI11.
    if (error.get_exit_code() == 0) return app.exit(error);
    fmt::print(stderr, "comet: error: {}\nRun 'comet --help' (or 'comet SUBCOMMAND --help') for usage.\n",
               error.what());
    return comet::EXIT_BAD_INPUT;
  }

  try {
    for (const auto& command : commands)
      if (command->chosen()) return command->run();
  } catch (const comet::InputError& error) {
    fmt::print(stderr, "comet: error: {}\n", error.what());
    return comet::EXIT_BAD_INPUT;
  } catch (const std::exception& error) {
    fmt::print(stderr, "comet: internal error: {}\n", error.what());
    return 3;
  }
  return 0;
}
