// Scenario and topology YAML, as `comet check FILE` reads them (file kind detected from the keys).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_contract.hpp"
#include "scenario.hpp"
#include "topology_spec.hpp"
#include "yaml_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  comet::fuzz::expect_value_or_input_error([&] {
    const comet::YamlValue root = comet::load_yaml_text(text, "fuzz.yaml");
    if (comet::detect_file_kind(root) == comet::FileKind::SCENARIO)
      (void)comet::parse_scenario(root, ".");
    else
      (void)comet::parse_topology_spec(root);
  });
  return 0;
}
