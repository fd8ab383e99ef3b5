// The one error type for bad user input (files, command-line values).
//
// Library code throws InputError; only main() prints it and exits with code 2. The message
// names where the problem is (file, line, column when known), which field (a dotted key path),
// the value found and what was expected, so a user can fix the input without reading code.
#pragma once

#include <stdexcept>
#include <string>

namespace comet {

/// Where in an input a value came from. Line and column are 1-based; 0 means unknown.
struct InputLocation {
  std::string file;  ///< path as the user gave it, or "<command line>" / "<built-in>"
  int line = 0;
  int column = 0;
};

class InputError : public std::runtime_error {
 public:
  /// `key_path` is dotted ("model.top_k"), may be empty for whole-file problems;
  /// `value` is the offending text (empty when the value is missing).
  InputError(InputLocation location, std::string key_path, std::string value,
             std::string expected);

  const InputLocation& location() const { return location_; }
  const std::string& key_path() const { return key_path_; }
  const std::string& value() const { return value_; }
  const std::string& expected() const { return expected_; }

 private:
  InputLocation location_;
  std::string key_path_;
  std::string value_;
  std::string expected_;
};

/// Exit code for bad input, as documented in the README.
inline constexpr int EXIT_BAD_INPUT = 2;

}  // namespace comet
