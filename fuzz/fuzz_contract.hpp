// The contract every loader harness checks: for any bytes, the loader returns a value or throws
// the project's input error (InputError; UnitError for the bare units parser). Anything else —
// another exception, a crash, a hang (libFuzzer's -timeout), a sanitizer report — is a bug.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "input_error.hpp"

namespace comet::fuzz {

template <typename Load>
void expect_value_or_input_error(Load&& load) {
  try {
    load();
  } catch (const InputError&) {
  } catch (const std::exception& error) {
    std::fprintf(stderr, "loader threw a %s, not an InputError: %s\n", typeid(error).name(), error.what());
    std::abort();
  }
}

}  // namespace comet::fuzz
