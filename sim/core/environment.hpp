// Settings read from environment variables (engine knobs for experiments). A value that is set
// but malformed is bad input (InputError, exit 2), never silently a default or 0.
#pragma once

#include <optional>

namespace comet {

/// The variable `name` as a whole number >= `min`; nullopt when unset. Throws InputError naming
/// the variable and its value otherwise ("abc", "3x", "", out of range).
std::optional<int> environment_int(const char* name, int min);

/// The variable `name` as a number in [min, max); nullopt when unset; InputError otherwise.
std::optional<double> environment_double(const char* name, double min, double max);

}  // namespace comet
