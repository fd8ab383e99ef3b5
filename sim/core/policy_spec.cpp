#include "policy_spec.hpp"

#include <fmt/format.h>

#include <charconv>
#include <stdexcept>

namespace comet {
namespace {

struct PolicyForm {
  std::string_view name;
  bool takes_parameter;
  std::string_view parameter_letter;
  int multiple_of = 1;  ///< the parameter must be a multiple of it (comet:B: whole clusters of 2 blocks)
  int example = 4;
};

std::vector<PolicyForm> forms(PolicyFamily family) {
  switch (family) {
    case PolicyFamily::PLACEMENT:
      return {{"contiguous", false, ""}, {"strided", false, ""}, {"topology", false, ""},
              {"bottleneck", false, ""}, {"replicate", true, "R"}};
    case PolicyFamily::PARTITION:
      return {{"none", false, ""}, {"fixed", true, "K"}, {"tapered", true, "K"}, {"dynamic", false, ""}, {"fine", false, ""},
              {"comet", true, "B", 2, 8}};
    case PolicyFamily::A2A:
      return {{"direct", false, ""}, {"hierarchical", false, ""}};
  }
  return {};
}

}  // namespace

std::string_view to_string(PolicyFamily family) {
  switch (family) {
    case PolicyFamily::PLACEMENT: return "placement";
    case PolicyFamily::PARTITION: return "partition";
    case PolicyFamily::A2A: return "a2a";
  }
  return "?";
}

std::string PolicySpec::text() const {
  return parameter > 0 ? fmt::format("{}:{}", name, parameter) : name;
}

std::string policy_choices(PolicyFamily family) {
  std::string text;
  for (const PolicyForm& form : forms(family)) {
    if (!text.empty()) text += ", ";
    text += form.name;
    if (form.takes_parameter) text += fmt::format(":{}", form.parameter_letter);
  }
  return text;
}

PolicySpec parse_policy(PolicyFamily family, std::string_view text) {
  const auto colon = text.find(':');
  const std::string_view name = text.substr(0, colon);
  for (const PolicyForm& form : forms(family)) {
    if (name != form.name) continue;
    PolicySpec spec{family, std::string(name), 0};
    if (!form.takes_parameter) {
      if (colon != std::string_view::npos)
        throw std::invalid_argument(fmt::format("{} policy '{}' takes no parameter", to_string(family), name));
      return spec;
    }
    const std::string_view digits = colon == std::string_view::npos ? "" : text.substr(colon + 1);
    int value = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() || value < 1)
      throw std::invalid_argument(fmt::format("{} policy '{}' needs a whole number >= {}, as in {}:{}", to_string(family),
                                              text, form.multiple_of, name, form.example));
    if (value % form.multiple_of != 0)
      throw std::invalid_argument(fmt::format("{} policy '{}' needs a multiple of {}, as in {}:{}", to_string(family), text,
                                              form.multiple_of, name, form.example));
    spec.parameter = value;
    return spec;
  }
  throw std::invalid_argument(fmt::format("unknown {} policy '{}'; expected one of: {}", to_string(family),
                                          text, policy_choices(family)));
}

PolicyTriple baseline_policies() {
  return {parse_policy(PolicyFamily::PLACEMENT, "contiguous"), parse_policy(PolicyFamily::PARTITION, "none"),
          parse_policy(PolicyFamily::A2A, "direct")};
}

}  // namespace comet
