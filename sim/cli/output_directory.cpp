#include "output_directory.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

#include "input_error.hpp"

namespace comet {

std::filesystem::path prepare_output_directory(const std::string& dir, const std::string& option) {
  auto fail = [&](const std::string& why) {
    throw InputError({"<command line>", 0, 0}, option, dir, why + "; expected a directory that can be written");
  };
  if (dir.empty()) fail("the directory name is empty");
  const std::filesystem::path path(dir);
  std::error_code error;
  if (std::filesystem::exists(path, error) && !std::filesystem::is_directory(path, error))
    fail("exists and is not a directory");
  std::filesystem::create_directories(path, error);
  if (error) fail(fmt::format("cannot create it ({})", error.message()));
  const std::filesystem::path probe = path / fmt::format(".comet-write-probe.{}", ::getpid());
  std::FILE* file = std::fopen(probe.c_str(), "wb");
  if (!file) fail(fmt::format("cannot write in it ({})", std::strerror(errno)));
  std::fclose(file);
  std::filesystem::remove(probe, error);
  return path;
}

}  // namespace comet
