// Routing trace CSV (`routing: {kind: trace, file: F}`), read from a file as comet reads it, for
// a cluster of 16 GPUs, expert parallelism 8, 16 experts, top-2.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "fuzz_contract.hpp"
#include "workload.hpp"

namespace {

// The file each input is written to, removed when the fuzzer exits.
struct TraceFile {
  std::string path = "/tmp/comet-fuzz-trace-" + std::to_string(::getpid()) + ".csv";
  ~TraceFile() { std::remove(path.c_str()); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const TraceFile file;
  const std::string& path = file.path;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                 static_cast<std::streamsize>(size));
  comet::fuzz::expect_value_or_input_error([&] { (void)comet::read_trace_csv(path, {16, 8, 16, 2}); });
  return 0;
}
