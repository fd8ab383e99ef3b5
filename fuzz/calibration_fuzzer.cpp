// Calibration YAML (`--calibration FILE`, `comet cost-model --check FILE`).
#include <cstddef>
#include <cstdint>
#include <string>

#include "calibration_file.hpp"
#include "fuzz_contract.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  comet::fuzz::expect_value_or_input_error([&] { (void)comet::load_cost_model_text(text, "fuzz-calibration.yaml"); });
  return 0;
}
