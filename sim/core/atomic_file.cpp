#include "atomic_file.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "input_error.hpp"

namespace comet {

void write_file_atomically(const std::filesystem::path& path, std::string_view text) {
  const std::string target = path.string();
  const std::filesystem::path directory = path.has_parent_path() ? path.parent_path() : ".";
  if (!std::filesystem::is_directory(directory))
    throw InputError({target, 0, 0}, "", "", fmt::format("directory '{}' does not exist", directory.string()));
  if (std::filesystem::is_directory(path))
    throw InputError({target, 0, 0}, "", "", "is a directory; expected a file path to write");
  const std::string temporary = fmt::format("{}.tmp.{}", target, ::getpid());
  std::FILE* file = std::fopen(temporary.c_str(), "wb");
  if (!file) throw InputError({target, 0, 0}, "", "", fmt::format("cannot write: {}", std::strerror(errno)));
  const bool written = std::fwrite(text.data(), 1, text.size(), file) == text.size();
  const bool closed = std::fclose(file) == 0;
  if (!written || !closed || std::rename(temporary.c_str(), target.c_str()) != 0) {
    const int error = errno;
    std::remove(temporary.c_str());
    throw InputError({target, 0, 0}, "", "", fmt::format("cannot write: {}", std::strerror(error)));
  }
}

}  // namespace comet
