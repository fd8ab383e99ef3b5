// The -o DIR of `comet compare` and `comet sweep`: created when missing and checked for
// writing before a long run starts, so that a bad directory fails in a second, not after it.
#pragma once

#include <filesystem>
#include <string>

namespace comet {

/// Creates `dir` (and its parents) if needed and writes and removes a probe file in it.
/// Throws InputError naming the option and the directory.
std::filesystem::path prepare_output_directory(const std::string& dir, const std::string& option = "-o");

}  // namespace comet
