// Runs one of `commands` from the command line: parsing, dispatch, and errors turned into messages
// and exit codes (0 success, 2 bad input, 3 internal error). Shared by `comet` and `comet-validate`.
#include "command_runner.hpp"

#include <fmt/format.h>

#include <string>

#include "input_error.hpp"

namespace comet {

int run_commands(const std::vector<std::unique_ptr<Command>>& commands, int argc, char** argv, const std::string& description) {
  CLI::App app{description};
  app.set_version_flag("--version", std::string("comet ") + COMET_VERSION);
  app.require_subcommand(1);
  app.failure_message(CLI::FailureMessage::help);
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
      return EXIT_BAD_INPUT;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help and --version are "errors" with exit code 0 in CLI11.
    if (error.get_exit_code() == 0) return app.exit(error);
    fmt::print(stderr, "comet: error: {}\nRun 'comet --help' (or 'comet SUBCOMMAND --help') for usage.\n",
               error.what());
    return EXIT_BAD_INPUT;
  }

  try {
    for (const auto& command : commands)
      if (command->chosen()) return command->run();
  } catch (const InputError& error) {
    fmt::print(stderr, "comet: error: {}\n", error.what());
    return EXIT_BAD_INPUT;
  } catch (const std::exception& error) {
    fmt::print(stderr, "comet: internal error: {}\n", error.what());
    return 3;
  }
  return 0;
}

bool parse_forwarded(CLI::App& app, const std::vector<std::string>& args, const std::string& option, const std::string& usage) {
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them last first
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() != 0) throw InputError({"<command line>", 0, 0}, option, error.what(), usage);
    app.exit(error);
    return false;
  }
  return true;
}

}  // namespace comet
