#include "input_error.hpp"

#include <fmt/format.h>

namespace comet {
namespace {

std::string compose(const InputLocation& where, const std::string& key_path,
                    const std::string& value, const std::string& expected) {
  std::string message = where.file.empty() ? std::string("<input>") : where.file;
  if (where.line > 0) message += fmt::format(":{}", where.line);
  if (where.line > 0 && where.column > 0) message += fmt::format(":{}", where.column);
  message += ": ";
  if (!key_path.empty()) message += fmt::format("'{}': ", key_path);
  if (!value.empty()) message += fmt::format("value '{}': ", value);
  message += expected;
  return message;
}

}  // namespace

InputError::InputError(InputLocation location, std::string key_path, std::string value,
                       std::string expected)
    : std::runtime_error(compose(location, key_path, value, expected)),
      location_(std::move(location)),
      key_path_(std::move(key_path)),
      value_(std::move(value)),
      expected_(std::move(expected)) {}

}  // namespace comet
