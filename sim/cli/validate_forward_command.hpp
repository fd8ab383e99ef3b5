// `comet validate` and `comet calibrate` in the `comet` binary: hand the whole command line to
// `comet-validate`, the executable next to it that links CUDA, cuBLAS and NCCL. Why a second
// executable: linking them into `comet` made every simulator command load about 1 GB of GPU
// libraries (254 MB resident for `comet check`) and need them installed to start at all.
// Exception: `comet validate --measured FILE` predicts a recorded measurement and needs no GPU;
// `comet` runs it itself (measured_prediction.hpp), with any engine this build has.
#pragma once

#include <string>
#include <vector>

#include "command.hpp"

namespace comet {

class GpuForwardCommand : public Command {
 public:
  /// `name`: "validate" or "calibrate" (the subcommand comet-validate runs).
  GpuForwardCommand(std::string name, std::string description)
      : name_(std::move(name)), description_(std::move(description)) {}
  void add_to(CLI::App& app) override;
  int run() const override;

 private:
  std::string name_, description_;
};

}  // namespace comet
