// `comet init`: writes a valid, commented scenario file for a cluster type and size.
#pragma once

#include <CLI/CLI.hpp>

#include "scenario_writer.hpp"

namespace comet {

class InitCommand {
 public:
  void add_to(CLI::App& app);
  bool chosen() const { return app_ != nullptr && app_->parsed(); }
  int run() const;

 private:
  CLI::App* app_ = nullptr;
  InitRequest request_;
  std::string output_;
};

}  // namespace comet
