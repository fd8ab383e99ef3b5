#include "results_csv.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace comet {
namespace {

std::string scalar_text(const nlohmann::ordered_json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_number_unsigned()) return fmt::format("{}", value.get<std::uint64_t>());
  if (value.is_number_integer()) return fmt::format("{}", value.get<std::int64_t>());
  if (value.is_number_float()) return fmt::format("{}", value.get<double>());
  return "";
}

void flatten(const nlohmann::ordered_json& object, const std::string& prefix,
             std::vector<std::pair<std::string, std::string>>& out) {
  for (const auto& [key, value] : object.items()) {
    const std::string name = prefix.empty() ? key : prefix + "." + key;
    if (value.is_object()) flatten(value, name, out);
    else if (!value.is_array()) out.emplace_back(name, scalar_text(value));
  }
}

}  // namespace

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string results_csv(const std::vector<nlohmann::ordered_json>& results) {
  std::vector<std::string> columns;  // in the order fields first appear
  std::vector<std::map<std::string, std::string>> rows;
  for (const nlohmann::ordered_json& result : results) {
    std::vector<std::pair<std::string, std::string>> fields;
    flatten(result, "", fields);
    std::map<std::string, std::string> row;
    for (auto& [name, text] : fields) {
      if (std::find(columns.begin(), columns.end(), name) == columns.end()) columns.push_back(name);
      row[name] = std::move(text);
    }
    rows.push_back(std::move(row));
  }
  std::string out;
  for (std::size_t c = 0; c < columns.size(); ++c) {
    out += c ? "," : "";
    out += csv_field(columns[c]);
  }
  out += "\n";
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const auto found = row.find(columns[c]);
      out += c ? "," : "";
      out += csv_field(found == row.end() ? "" : found->second);
    }
    out += "\n";
  }
  return out;
}

}  // namespace comet
