#include "init_command.hpp"

#include <fmt/format.h>

#include "atomic_file.hpp"
#include "moe_model.hpp"
#include "scenario.hpp"

namespace comet {

void InitCommand::add_to(CLI::App& app) {
  app_ = app.add_subcommand("init", "Write a commented scenario file for a cluster type and size");
  app_->add_option("--cluster-type", request_.cluster_type, "Cluster layout")
      ->required()
      ->check(CLI::IsMember({"tree", "fat-tree", "rail"}));
  app_->add_option("--gpus", request_.gpus, "Number of GPUs, a multiple of 8")->required()->check(CLI::PositiveNumber);
  app_->add_option("--expert-count", request_.experts, "Routed experts per MoE layer")
      ->required()
      ->check(CLI::PositiveNumber);
  app_->add_option("--model", request_.model, "Model preset (dimensions)")
      ->check(CLI::IsMember(model_preset_names()))
      ->capture_default_str();
  app_->add_option("--tokens-per-gpu", request_.tokens_per_gpu, "Tokens each GPU routes per step")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app_->add_option("-o,--output", output_, "Scenario file to write (replaced atomically)")->required();
}

int InitCommand::run() const {
  const std::string text = write_init_scenario(request_);
  // Never hand the user a file that `comet check` would reject.
  parse_scenario(load_yaml_text(text, output_), std::filesystem::path(output_).parent_path());
  write_file_atomically(output_, text);
  fmt::print(stderr, "comet: wrote {}\n", output_);
  return 0;
}

}  // namespace comet
