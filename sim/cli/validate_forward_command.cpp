#include "validate_forward_command.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace comet {

void ValidateForwardCommand::add_to(CLI::App& app) {
  app_ = app.add_subcommand("validate", "Run the scenario's partition policies on this machine's GPUs with real CUDA "
                                        "and NCCL kernels; time every op and check numerics (comet validate --help)");
  // Everything after `validate`, --help included, belongs to comet-validate.
  app_->set_help_flag();
  app_->allow_extras();
  app_->prefix_command();
}

int ValidateForwardCommand::run() const {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  const std::filesystem::path target = self.parent_path() / "comet-validate";
  if (error || !std::filesystem::exists(target)) {
    fmt::print(stderr, "comet: error: {} not found: this build has no validation mode (it needs a CUDA compiler, NCCL "
                       "and cuBLAS when configuring; configure prints whether they were found)\n",
               target.string());
    return 3;
  }
  std::vector<std::string> words{target.string()};
  for (const std::string& extra : app_->remaining()) words.push_back(extra);
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  ::execv(target.c_str(), argv.data());
  fmt::print(stderr, "comet: error: cannot run {}: {}\n", target.string(), std::strerror(errno));
  return 3;
}

}  // namespace comet
