#include "scenario_settings.hpp"

#include <fmt/format.h>

#include <charconv>

#include "builtin_files.hpp"
#include "input_error.hpp"
#include "yaml_input.hpp"

namespace comet {
namespace {

const char* const OPTION = "--set";

[[noreturn]] void fail(const ScenarioSetting& setting, const std::string& expected) {
  throw InputError({"<command line>", 0, 0}, std::string(OPTION) + " " + setting.key, setting.value, expected);
}

// A copy without source positions: the new values did not come from the scenario file, so an
// error about them must not point at a line of it.
YAML::Node without_marks(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: return YAML::Node(node.Scalar());
    case YAML::NodeType::Sequence: {
      YAML::Node copy(YAML::NodeType::Sequence);
      for (const YAML::Node& item : node) copy.push_back(without_marks(item));
      return copy;
    }
    case YAML::NodeType::Map: {
      YAML::Node copy(YAML::NodeType::Map);
      for (const auto& entry : node) copy[entry.first.Scalar()] = without_marks(entry.second);
      return copy;
    }
    default: return YAML::Node(YAML::NodeType::Null);
  }
}

YAML::Node value_node(const ScenarioSetting& setting) {
  if (setting.value.empty()) fail(setting, "the value is empty; expected KEY=VALUE");
  try {
    return without_marks(YAML::Load(setting.value));
  } catch (const YAML::Exception& error) {
    fail(setting, fmt::format("not a YAML value ({})", error.msg));
  }
}

std::vector<std::string> key_segments(const ScenarioSetting& setting) {
  std::vector<std::string> segments;
  std::string_view rest = setting.key;
  while (true) {
    const auto dot = rest.find('.');
    segments.emplace_back(rest.substr(0, dot));
    if (segments.back().empty())
      fail(setting, "the key has an empty part; expected a dotted key path such as workload.tokens_per_gpu");
    if (dot == std::string_view::npos) return segments;
    rest.remove_prefix(dot + 1);
  }
}

// `topology: fat-tree-1024` names a shipped topology (or a file): copy it into the scenario
// so that its keys can be set.
void inline_topology(YAML::Node root, const std::filesystem::path& base_dir, const ScenarioSetting& setting) {
  const std::string name = root["topology"].Scalar();
  YAML::Node topology;
  const bool looks_like_path = name.find('/') != std::string::npos || name.ends_with(".yaml") || name.ends_with(".yml");
  if (auto builtin = looks_like_path ? std::nullopt : find_builtin_topology(name)) {
    topology = load_yaml_text(std::string(builtin->text), name).node();
  } else if (path_exists(base_dir / name)) {
    topology = load_yaml_file(base_dir / name).node();
  } else {
    fail(setting, fmt::format("the scenario's topology '{}' is not a shipped topology nor an existing file", name));
  }
  root["topology"] = without_marks(topology);
}

std::size_t list_index(const YAML::Node& list, const std::string& segment, const std::string& prefix,
                       const ScenarioSetting& setting) {
  std::size_t index = 0;
  const auto [end, error] = std::from_chars(segment.data(), segment.data() + segment.size(), index);
  if (error != std::errc() || end != segment.data() + segment.size() || index >= list.size())
    fail(setting, fmt::format("'{}' is a list of {}; expected an index 0..{} after it", prefix, list.size(),
                              list.size() == 0 ? 0 : list.size() - 1));
  return index;
}

void apply(YAML::Node root, const ScenarioSetting& setting, const std::filesystem::path& base_dir) {
  const std::vector<std::string> segments = key_segments(setting);
  const YAML::Node value = value_node(setting);
  if (segments.size() > 1 && segments[0] == "topology" && root["topology"] && root["topology"].IsScalar())
    inline_topology(root, base_dir, setting);
  YAML::Node at;
  at.reset(root);  // reset, not =: assigning a yaml-cpp node would overwrite what it refers to
  std::string prefix;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const std::string& segment = segments[i];
    const bool last = i + 1 == segments.size();
    YAML::Node next;
    if (at.IsSequence()) {
      const std::size_t index = list_index(at, segment, prefix, setting);
      if (last) {
        at[index] = value;
        return;
      }
      next.reset(at[index]);
    } else if (at.IsMap()) {
      if (last) {
        at[segment] = value;
        return;
      }
      const YAML::Node& view = at;
      if (!view[segment] || view[segment].IsNull()) at[segment] = YAML::Node(YAML::NodeType::Map);
      next.reset(at[segment]);
    } else {
      fail(setting, fmt::format("'{}' holds a single value, not a mapping; cannot set a key below it", prefix));
    }
    prefix += prefix.empty() ? "" : ".";
    prefix += segment;
    at.reset(next);
  }
}

}  // namespace

std::string describe_settings(const std::vector<ScenarioSetting>& settings) {
  std::string text;
  for (const ScenarioSetting& s : settings) text += fmt::format("{}{}={}", text.empty() ? "" : " ", s.key, s.value);
  return text;
}

Scenario load_scenario_with_settings(const std::string& file, const std::vector<ScenarioSetting>& settings) {
  const std::filesystem::path base_dir = file.empty() ? std::filesystem::path(".") : std::filesystem::path(file).parent_path();
  YamlValue loaded = file.empty() ? load_yaml_text(std::string(find_builtin_scenario(DEFAULT_SCENARIO)->text),
                                                   "<built-in>/scenarios/default.yaml")
                                  : load_yaml_file(file);
  if (detect_file_kind(loaded) != FileKind::SCENARIO)
    loaded.fail("expected a scenario file (with 'topology:'), found a topology");
  YAML::Node root = loaded.node();
  for (const ScenarioSetting& setting : settings) apply(root, setting, base_dir);
  const std::string origin =
      settings.empty() ? loaded.file() : fmt::format("{} [--set {}]", loaded.file(), describe_settings(settings));
  return parse_scenario(YamlValue(root, origin, ""), base_dir);
}

}  // namespace comet
