// Validated access to YAML input (yaml-cpp underneath).
//
// Every read names its key path and, on failure, throws InputError with the file, line and
// column of the node, the value found and what was expected. Maps declare the keys they
// accept, so unknown (mistyped) keys are errors rather than silently ignored.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "input_error.hpp"
#include "units.hpp"

namespace comet {

class YamlMap;

/// One YAML node with the file it came from and its dotted key path.
class YamlValue {
 public:
  YamlValue(YAML::Node node, std::string file, std::string path);

  const std::string& path() const { return path_; }
  const YAML::Node& node() const { return node_; }
  const std::string& file() const { return file_; }
  InputLocation location() const;
  bool is_map() const { return node_.IsMap(); }
  bool is_scalar() const { return node_.IsScalar(); }

  /// An InputError at this node: "file:line:col: 'path': value 'v': <expected>".
  [[noreturn]] void fail(const std::string& expected) const;

  std::string as_string() const;
  /// One of `choices`; the error lists them.
  std::string as_choice(std::initializer_list<std::string_view> choices) const;
  /// An integer in [min, max]; accepts count suffixes ("4Ki") when the result is whole.
  std::int64_t as_int(std::int64_t min, std::int64_t max) const;
  /// A plain real number in [min, max].
  double as_number(double min, double max) const;
  /// A quantity with units (see units.hpp), strictly greater than zero unless `allow_zero`.
  double as_quantity(Dimension dimension, bool allow_zero = false) const;
  bool as_bool() const;
  /// A map accepting only the `allowed` keys (see YamlMap).
  YamlMap as_map(std::initializer_list<std::string_view> allowed) const;
  std::vector<YamlValue> as_list() const;
  /// A list of integers, each in [min, max]; the list itself must have 1..max_items entries.
  std::vector<std::int64_t> as_int_list(std::int64_t min, std::int64_t max,
                                        std::size_t max_items = 16) const;

 private:
  std::string scalar_text() const;  // the scalar, or fail() if not a scalar

  YAML::Node node_;
  std::string file_;
  std::string path_;
};

/// A YAML mapping whose keys are checked against an allow-list.
class YamlMap {
 public:
  /// Throws InputError unless `value` is a map; then checks that every key is in `allowed`
  /// and appears once.
  YamlMap(const YamlValue& value, std::initializer_list<std::string_view> allowed);

  bool has(std::string_view key) const;
  /// The value of a required key; a missing key is an error at the map's location.
  YamlValue required(std::string_view key) const;
  std::optional<YamlValue> optional(std::string_view key) const;
  const YamlValue& self() const { return self_; }

 private:
  YamlValue self_;
  YAML::Node node_;
  std::string child_path(std::string_view key) const;
};

/// Reads and parses a YAML file. A missing file, a directory, an unreadable, empty or binary
/// file, or a YAML syntax error each throw InputError naming the file (and line/column).
YamlValue load_yaml_file(const std::filesystem::path& path);

/// Whether `path` names something, without throwing: a name the OS rejects (too long, ...) is
/// simply not there, and the caller reports that as bad input.
bool path_exists(const std::filesystem::path& path) noexcept;
/// Whether `path` is a regular file, without throwing (as path_exists).
bool is_file(const std::filesystem::path& path) noexcept;

/// Parses YAML text that did not come from a file on disk (built-in files, tests).
/// `origin` is used as the file name in messages.
YamlValue load_yaml_text(const std::string& text, const std::string& origin);

}  // namespace comet
