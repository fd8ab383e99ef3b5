// The shared `main` of the comet executables: parse, dispatch to the chosen Command, and turn
// errors into one message and an exit code.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "command.hpp"

namespace comet {

int run_commands(const std::vector<std::unique_ptr<Command>>& commands, int argc, char** argv, const std::string& description);

}  // namespace comet
