// Writes output files atomically: the text goes to a temporary file beside the target, which
// is renamed over it only when complete, so a failed or interrupted run never leaves a
// half-written file.
#pragma once

#include <filesystem>
#include <string_view>

namespace comet {

/// Throws InputError (naming the path) when the directory does not exist or is not writable.
void write_file_atomically(const std::filesystem::path& path, std::string_view text);

}  // namespace comet
