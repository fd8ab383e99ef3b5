// `comet compare`: runs the cross product of placement x partition x all-to-all policies on one
// scenario and engine, ranks them by layer time, prints the ranking table and, with -o DIR,
// writes results.json, results.csv, report.md, report.html and one trace per combination.
#pragma once

#include <string>
#include <vector>

#include "command.hpp"
#include "distributed_points.hpp"
#include "engine_options.hpp"

namespace comet {

class CompareCommand : public Command {
 public:
  void add_to(CLI::App& app) override;
  int run() const override;

 private:
  std::string file_, output_;
  std::vector<std::string> placements_, partitions_, a2a_;
  EngineOptions engine_;
  int trace_gpus_ = 8;
  int trace_links_ = 8;
  int run_on_ranks(const PointRanks& ranks) const;
  int jobs_ = 0;  // 0: one per core
  bool json_ = false;
};

}  // namespace comet
