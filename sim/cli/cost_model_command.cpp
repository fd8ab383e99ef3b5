#include "cost_model_command.hpp"

#include <fmt/format.h>

#include "atomic_file.hpp"
#include "calibration_file.hpp"

namespace comet {

void CostModelCommand::add_to(CLI::App& app) {
  app_ = app.add_subcommand("cost-model", "Print or write a cost model (calibration YAML): the built-in defaults "
                                          "of a GPU, or a file's contents after validation");
  app_->add_option("--gpu", gpu_, "Built-in defaults of this GPU")
      ->check(CLI::IsMember({"h100-sxm", "h200"}))
      ->capture_default_str();
  app_->add_option("--check", input_, "Validate this calibration file and print it as read");
  app_->add_option("-o,--output", output_, "Write to this file (atomically) instead of standard output");
}

int CostModelCommand::run() const {
  const CostModel model = input_.empty() ? CostModel::defaults_for(gpu_) : load_cost_model(input_);
  const std::string text = cost_model_yaml(model);
  if (output_.empty()) fmt::print("{}", text);
  else write_file_atomically(output_, text);
  return 0;
}

}  // namespace comet
