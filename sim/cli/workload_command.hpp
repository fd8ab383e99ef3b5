// `comet workload`: generates a scenario's routing per step, prints its imbalance, and exports
// it as a trace CSV (`step,src_gpu,expert,tokens`) that a `trace` workload reads back.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace comet {

class WorkloadCommand {
 public:
  void add_to(CLI::App& app);
  bool chosen() const { return app_ != nullptr && app_->parsed(); }
  int run() const;

 private:
  CLI::App* app_ = nullptr;
  std::string file_, export_;
  bool json_ = false;
};

}  // namespace comet
