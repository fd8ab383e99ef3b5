#include "input_error.hpp"

#include <fmt/format.h>

namespace comet {
namespace {

// What a message may quote from the input: printable ASCII; other bytes as \xNN (a binary file
// or escape sequence must not reach the terminal raw), and at most `max_shown` bytes of it.
std::string printable(const std::string& text, std::size_t max_shown = 120) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i == max_shown) {
      out += fmt::format("... ({} bytes)", text.size());
      break;
    }
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
    else out += fmt::format("\\x{:02x}", c);
  }
  return out;
}

std::string compose(const InputLocation& where, const std::string& key_path,
                    const std::string& value, const std::string& expected) {
  std::string message = where.file.empty() ? std::string("<input>") : printable(where.file);
  if (where.line > 0) message += fmt::format(":{}", where.line);
  if (where.line > 0 && where.column > 0) message += fmt::format(":{}", where.column);
  message += ": ";
  if (!key_path.empty()) message += fmt::format("'{}': ", printable(key_path));
  if (!value.empty()) message += fmt::format("value '{}': ", printable(value));
  message += printable(expected, std::string::npos);  // may quote the input too (parser messages)
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
