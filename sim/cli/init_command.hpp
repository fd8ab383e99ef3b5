// `comet init`: writes a valid, commented scenario file for a cluster type and size.
#pragma once

#include "command.hpp"

#include "scenario_writer.hpp"

namespace comet {

class InitCommand : public Command {
 public:
  void add_to(CLI::App& app) override;
  int run() const override;

 private:
  InitRequest request_;
  std::string output_;
};

}  // namespace comet
