// `comet-validate`: the GPU half of the command line (see validate_forward_command.hpp), run as
// `comet validate ...` or directly with the same options.
#include <memory>
#include <string>
#include <vector>

#include "command_runner.hpp"
#include "validate_command.hpp"

int main(int argc, char** argv) {
  std::vector<std::unique_ptr<comet::Command>> commands;
  commands.push_back(std::make_unique<comet::ValidateCommand>());
  // The one subcommand is implied: `comet-validate ARGS` parses as `validate ARGS`.
  std::vector<char*> words{argv[0], const_cast<char*>("validate")};
  for (int i = 1; i < argc; ++i) words.push_back(argv[i]);
  return comet::run_commands(commands, static_cast<int>(words.size()), words.data(),
                             "comet validate: run MoE policies on this machine's GPUs with real kernels");
}
