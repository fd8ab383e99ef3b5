// `comet sweep`: runs one policy triple over the cross product of scenario values given with
// --set KEY=V1,V2,..., each point in its own child process (--jobs at once), and keeps
// results.json, results.csv and report.html in -o DIR up to date after every finished point,
// so that Ctrl-C (or a failing point) leaves complete files for the points already done. Under
// `mpirun -np N` (or srun) the points are split over the ranks (distributed_points.hpp).
#pragma once

#include <string>
#include <vector>

#include "command.hpp"
#include "distributed_points.hpp"
#include "engine_options.hpp"
#include "scenario_argument.hpp"

namespace comet {

class SweepCommand : public Command {
 public:
  void add_to(CLI::App& app) override;
  int run() const override;

 private:
  int run_on_ranks(const PointRanks& ranks) const;
  std::string file_, output_;
  std::vector<std::string> sets_;
  EngineOptions engine_;
  PolicyOptions policies_;
  int jobs_ = 1;
  bool json_ = false;
};

}  // namespace comet
