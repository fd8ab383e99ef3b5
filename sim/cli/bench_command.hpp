// `comet bench`: speed and memory (each case in a child process, so its peak RSS is its own) of
//  - building each shipped topology, its routing tables and all-pairs path costs;
//  - building the workload, placement and forward + backward Plan of the default scenario.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace comet {

class BenchCommand {
 public:
  void add_to(CLI::App& app);
  bool chosen() const { return app_ != nullptr && app_->parsed(); }
  int run() const;

 private:
  CLI::App* app_ = nullptr;
  std::vector<std::string> topologies_;
  bool json_ = false;
};

}  // namespace comet
