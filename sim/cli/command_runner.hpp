// The shared `main` of the comet executables: parse, dispatch to the chosen Command, and turn
// errors into one message and an exit code.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "command.hpp"

namespace comet {

int run_commands(const std::vector<std::unique_ptr<Command>>& commands, int argc, char** argv, const std::string& description);

/// Parses `args` (the words after a forwarded subcommand, in order) into `app`. Returns true when
/// the command should run; false after --help was printed (exit 0). A parse error throws
/// InputError naming `option` and the expected `usage`.
bool parse_forwarded(CLI::App& app, const std::vector<std::string>& args, const std::string& option, const std::string& usage);

}  // namespace comet
