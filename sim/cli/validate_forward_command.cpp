#include "validate_forward_command.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "calibration_refit.hpp"
#include "measured_prediction.hpp"

namespace comet {

void GpuForwardCommand::add_to(CLI::App& app) {
  app_ = app.add_subcommand(name_, description_);
  // Everything after `validate`, --help included, belongs to comet-validate.
  app_->set_help_flag();
  app_->allow_extras();
  app_->prefix_command();
}

int GpuForwardCommand::run() const {
  // The halves that need no GPU run here: a recorded measurement predicted, a recorded
  // calibration fitted again.
  const std::vector<std::string> args = app_->remaining();
  auto has = [&](const std::string& option) {
    for (const std::string& a : args)
      if (a == option || a.rfind(option + "=", 0) == 0) return true;
    return false;
  };
  if (name_ == "validate" && has("--measured")) return run_measured_prediction(args);
  if (name_ == "calibrate" && has("--fit-runs")) return run_calibration_refit(args);
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
  if (name_ != "validate") words.push_back(name_);
  for (const std::string& extra : app_->remaining()) words.push_back(extra);
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  ::execv(target.c_str(), argv.data());
  fmt::print(stderr, "comet: error: cannot run {}: {}\n", target.string(), std::strerror(errno));
  return 3;
}

}  // namespace comet
