// `comet-validate`: the GPU half of the command line (see validate_forward_command.hpp), run as
// `comet validate ...`, directly with the same options, or under mpirun with one process per
// GPU (`mpirun -np 2 comet-validate SCENARIO --measure-only`).
#include <fmt/format.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "command_runner.hpp"
#include "input_error.hpp"
#include "mpi_world.hpp"
#include "calibrate_command.hpp"
#include "provenance.hpp"
#include "validate_command.hpp"

int main(int argc, char** argv) {
  std::optional<comet::MpiWorld> mpi;
  if (comet::launched_by_mpi()) {
    try {
      mpi = comet::start_mpi(&argc, &argv);
    } catch (const comet::InputError& error) {
      fmt::print(stderr, "comet: error: {}\n", error.what());
      return comet::EXIT_BAD_INPUT;
    }
    comet::silence_non_root_output(*mpi);
  }
  std::vector<std::unique_ptr<comet::Command>> commands;
  const std::string command = comet::command_line(argc, argv);
  commands.push_back(std::make_unique<comet::ValidateCommand>(mpi ? &*mpi : nullptr, command));
  commands.push_back(std::make_unique<comet::CalibrateCommand>(mpi ? &*mpi : nullptr, command));
  // `comet-validate calibrate ARGS` calibrates; otherwise `validate` is implied.
  std::vector<char*> words{argv[0]};
  if (argc < 2 || std::string(argv[1]) != "calibrate") words.push_back(const_cast<char*>("validate"));
  for (int i = 1; i < argc; ++i) words.push_back(argv[i]);
  const int code = comet::run_commands(commands, static_cast<int>(words.size()), words.data(),
                                       "comet validate: run MoE policies on this machine's GPUs with real kernels "
                                       "(one process, a thread per GPU; or under mpirun, one process per GPU)");
  if (mpi) {
    // A rank that failed alone (an input or GPU error only its host meets) must not wait in
    // MPI_Finalize for ranks blocked in a collective with it: end the whole job with its code.
    if (code != 0 && code != 1) comet::abort_mpi(code);
    comet::finish_mpi();
  }
  return code;
}
