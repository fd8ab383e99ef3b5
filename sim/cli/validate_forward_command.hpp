// `comet validate` in the `comet` binary: hands the whole command line to `comet-validate`, the
// executable next to it that links CUDA, cuBLAS and NCCL. Why a second executable: linking them
// into `comet` made every simulator command load about 1 GB of GPU libraries (254 MB resident
// for `comet check`) and need them installed to start at all.
#pragma once

#include <string>
#include <vector>

#include "command.hpp"

namespace comet {

class ValidateForwardCommand : public Command {
 public:
  void add_to(CLI::App& app) override;
  int run() const override;

 private:
  std::vector<std::string> arguments_;
};

}  // namespace comet
