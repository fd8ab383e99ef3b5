// `comet bench`: speed and memory (each case in a child process, so its peak RSS is its own) of
//  - building each shipped topology, its routing tables and all-pairs path costs;
//  - building the workload, placement and forward + backward Plan of the default scenario;
//  - simulating one DeepSeek-V3 layer on every engine and cluster size (128 to 10,240 GPUs), and
//    the growth exponent of wall time in GPUs x ops;
//  - whole commands (command_timing.hpp) against the speed targets.
#pragma once

#include "command.hpp"
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace comet {

class BenchCommand : public Command {
 public:
  void add_to(CLI::App& app) override;
  int run() const override;

 private:
  std::vector<std::string> topologies_;
  std::vector<std::string> sections_;
  std::vector<std::string> engines_;
  std::vector<int> sizes_;
  double timeout_s_ = 300.0;
  bool json_ = false;
  void topology_table(nlohmann::json& all) const;
  void plan_table(nlohmann::json& all) const;
  void engine_table(nlohmann::json& all) const;
  void print_growth(const std::map<std::pair<std::string, std::string>, std::vector<std::pair<double, double>>>& growth,
                    nlohmann::json& all) const;
  void command_table(nlohmann::json& all) const;
};

}  // namespace comet
