// Measured Timelines (the `timeline` objects of `comet validate --measured FILE`): JSON parsed as
// that command parses it, then read back into a Timeline.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>

#include "fuzz_contract.hpp"
#include "timeline.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const nlohmann::json json = nlohmann::json::parse(data, data + size, nullptr, false);
  if (json.is_discarded()) return 0;  // the command reports invalid JSON itself
  comet::fuzz::expect_value_or_input_error([&] { (void)comet::timeline_from_json(json, "fuzz-measured.json"); });
  return 0;
}
