// A `comet` subcommand: registers its options on the CLI11 app and runs when chosen.
#pragma once

#include <CLI/CLI.hpp>

namespace comet {

class Command {
 public:
  virtual ~Command() = default;
  /// Adds the subcommand and its options to `app`; sets app_.
  virtual void add_to(CLI::App& app) = 0;
  /// Runs after a successful parse; returns the exit code. Throws InputError for bad input.
  virtual int run() const = 0;
  bool chosen() const { return app_ != nullptr && app_->parsed(); }

 protected:
  CLI::App* app_ = nullptr;
};

}  // namespace comet
