#include "yaml_input.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <cmath>
#include <fstream>
#include <iterator>
#include <set>

namespace comet {
namespace {

InputLocation location_of(const YAML::Mark& mark, const std::string& file) {
  if (mark.is_null()) return {file, 0, 0};
  return {file, mark.line + 1, mark.column + 1};
}

std::string quoted_list(std::initializer_list<std::string_view> items) {
  std::string text;
  for (std::string_view item : items) {
    if (!text.empty()) text += ", ";
    text += item;
  }
  return text;
}

// Binary files are refused before YAML sees them: yaml-cpp would report a confusing syntax
// error somewhere in the middle. NUL bytes or invalid UTF-8 make a file binary.
bool looks_binary(const std::string& bytes) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto lead = static_cast<unsigned char>(bytes[i]);
    if (lead == 0) return true;
    std::size_t continuation = 0;
    if (lead < 0x80) continuation = 0;
    else if ((lead >> 5) == 0x6) continuation = 1;
    else if ((lead >> 4) == 0xE) continuation = 2;
    else if ((lead >> 3) == 0x1E) continuation = 3;
    else return true;
    if (i + continuation >= bytes.size() && continuation > 0) return true;
    for (std::size_t k = 1; k <= continuation; ++k)
      if ((static_cast<unsigned char>(bytes[i + k]) >> 6) != 0x2) return true;
    i += continuation + 1;
  }
  return false;
}

YamlValue parse_document(const std::string& text, const std::string& origin) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos)
    throw InputError({origin, 0, 0}, "", "", "the file is empty; expected a YAML mapping");
  if (looks_binary(text))
    throw InputError({origin, 0, 0}, "", "",
                     "the file is not text (NUL bytes or invalid UTF-8); expected a YAML file");
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& error) {
    throw InputError(location_of(error.mark, origin), "", "",
                     fmt::format("YAML syntax error: {}", error.msg));
  }
  if (!root || root.IsNull())
    throw InputError({origin, 0, 0}, "", "", "the file is empty (only comments); expected a YAML mapping");
  YamlValue value(root, origin, "");
  if (!root.IsMap()) value.fail("expected a YAML mapping (key: value lines) at the top level");
  return value;
}

std::string node_text(const YAML::Node& node) {
  if (node.IsScalar()) return node.Scalar();
  if (node.IsNull()) return "";
  if (node.IsSequence()) return "[...]";
  if (node.IsMap()) return "{...}";
  return "";
}

}  // namespace

YamlValue::YamlValue(YAML::Node node, std::string file, std::string path)
    : node_(std::move(node)), file_(std::move(file)), path_(std::move(path)) {}

InputLocation YamlValue::location() const { return location_of(node_.Mark(), file_); }

void YamlValue::fail(const std::string& expected) const {
  throw InputError(location(), path_, node_text(node_), expected);
}

std::string YamlValue::scalar_text() const {
  if (node_.IsNull()) fail("the value is empty; expected a value");
  if (!node_.IsScalar()) fail("expected a single value, not a list or mapping");
  return node_.Scalar();
}

std::string YamlValue::as_string() const {
  std::string text = scalar_text();
  if (text.empty()) fail("expected a non-empty string");
  return text;
}

std::string YamlValue::as_choice(std::initializer_list<std::string_view> choices) const {
  const std::string text = scalar_text();
  for (std::string_view choice : choices)
    if (text == choice) return text;
  fail(fmt::format("expected one of: {}", quoted_list(choices)));
}

std::int64_t YamlValue::as_int(std::int64_t min, std::int64_t max) const {
  const std::string text = scalar_text();
  double value = 0.0;
  try {
    value = parse_quantity(text, Dimension::COUNT);
  } catch (const UnitError&) {
    fail(fmt::format("expected a whole number in [{}, {}]", min, max));
  }
  if (value != std::floor(value) || value < static_cast<double>(min) ||
      value > static_cast<double>(max))
    fail(fmt::format("expected a whole number in [{}, {}]", min, max));
  return static_cast<std::int64_t>(value);
}

double YamlValue::as_number(double min, double max) const {
  const std::string text = scalar_text();
  double value = 0.0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value) ||
      value < min || value > max)
    fail(fmt::format("expected a number in [{}, {}]", min, max));
  return value;
}

double YamlValue::as_quantity(Dimension dimension, bool allow_zero) const {
  const std::string text = scalar_text();
  double value = 0.0;
  try {
    value = parse_quantity(text, dimension);
  } catch (const UnitError& error) {
    fail(error.what());
  }
  if (value == 0.0 && !allow_zero) fail(fmt::format("must be greater than zero; expected {}", describe(dimension)));
  return value;
}

bool YamlValue::as_bool() const {
  const std::string text = scalar_text();
  if (text == "true") return true;
  if (text == "false") return false;
  fail("expected true or false");
}

YamlMap YamlValue::as_map(std::initializer_list<std::string_view> allowed) const {
  return YamlMap(*this, allowed);
}

std::vector<YamlValue> YamlValue::as_list() const {
  if (!node_.IsSequence()) fail("expected a list such as [a, b]");
  std::vector<YamlValue> items;
  items.reserve(node_.size());
  for (std::size_t i = 0; i < node_.size(); ++i)
    items.emplace_back(node_[i], file_, fmt::format("{}[{}]", path_, i));
  return items;
}

std::vector<std::int64_t> YamlValue::as_int_list(std::int64_t min, std::int64_t max,
                                                 std::size_t max_items) const {
  const std::vector<YamlValue> items = as_list();
  if (items.empty() || items.size() > max_items)
    fail(fmt::format("expected a list of 1 to {} whole numbers", max_items));
  std::vector<std::int64_t> numbers;
  for (const YamlValue& item : items) numbers.push_back(item.as_int(min, max));
  return numbers;
}

YamlMap::YamlMap(const YamlValue& value, std::initializer_list<std::string_view> allowed)
    : self_(value), node_(value.node()) {
  if (!node_.IsMap()) self_.fail("expected a mapping (key: value lines)");
  std::set<std::string> seen;
  for (const auto& entry : node_) {
    const YamlValue key(entry.first, self_.file(), self_.path());
    if (!entry.first.IsScalar()) key.fail("expected a plain key");
    const std::string name = entry.first.Scalar();
    const std::string key_path = child_path(name);
    bool known = false;
    for (std::string_view candidate : allowed) known = known || candidate == name;
    if (!known)
      throw InputError(key.location(), key_path, "",
                       fmt::format("unknown key; expected one of: {}", quoted_list(allowed)));
    if (!seen.insert(name).second)
      throw InputError(key.location(), key_path, "", "duplicate key; each key may appear once");
  }
}

std::string YamlMap::child_path(std::string_view key) const {
  return self_.path().empty() ? std::string(key) : fmt::format("{}.{}", self_.path(), key);
}

bool YamlMap::has(std::string_view key) const { return optional(key).has_value(); }

std::optional<YamlValue> YamlMap::optional(std::string_view key) const {
  for (const auto& entry : node_)
    if (entry.first.Scalar() == key) return YamlValue(entry.second, self_.file(), child_path(key));
  return std::nullopt;
}

YamlValue YamlMap::required(std::string_view key) const {
  if (auto value = optional(key)) return *value;
  throw InputError(self_.location(), child_path(key), "", "missing required key");
}

YamlValue load_yaml_text(const std::string& text, const std::string& origin) {
  return parse_document(text, origin);
}

YamlValue load_yaml_file(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (error || !std::filesystem::exists(status))
    throw InputError({name, 0, 0}, "", "", "no such file");
  if (std::filesystem::is_directory(status))
    throw InputError({name, 0, 0}, "", "", "is a directory; expected a YAML file");
  std::ifstream stream(path, std::ios::binary);
  if (!stream) throw InputError({name, 0, 0}, "", "", "cannot be opened for reading");
  std::string text((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
  if (stream.bad()) throw InputError({name, 0, 0}, "", "", "read error");
  return parse_document(text, name);
}

bool path_exists(const std::filesystem::path& path) noexcept {
  std::error_code error;
  return std::filesystem::exists(path, error) && !error;
}

bool is_file(const std::filesystem::path& path) noexcept {
  std::error_code error;
  return std::filesystem::is_regular_file(path, error) && !error;
}

}  // namespace comet
