#include "provenance.hpp"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <fmt/format.h>
#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <ctime>

extern char** environ;

namespace comet {
namespace {

std::string cuda_version_text(int version) { return fmt::format("{}.{}", version / 1000, version % 1000 / 10); }

std::string nccl_environment() {
  std::vector<std::string> set;
  for (char** e = environ; e && *e; ++e)
    if (std::string(*e).rfind("NCCL_", 0) == 0) set.emplace_back(*e);
  std::sort(set.begin(), set.end());
  std::string text;
  for (const std::string& s : set) text += (text.empty() ? "" : " ") + s;
  return text;
}

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

}  // namespace

std::string command_line(int argc, char** argv) {
  std::string line;
  for (int i = 0; i < argc; ++i) {
    std::string word = argv[i];
    if (word.find_first_of(" \t\"'") != std::string::npos) word = "'" + word + "'";
    line += (i ? " " : "") + word;
  }
  return line;
}

std::vector<std::pair<std::string, std::string>> measurement_provenance(const std::string& command) {
  std::vector<std::pair<std::string, std::string>> out;
  int devices = 0;
  if (cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
      out.emplace_back("gpu_name", prop.name);
      out.emplace_back("gpu_sm_count", std::to_string(prop.multiProcessorCount));
    }
  }
  out.emplace_back("gpus", std::to_string(devices));
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  out.emplace_back("driver", "CUDA " + cuda_version_text(driver));
  out.emplace_back("cuda_runtime", cuda_version_text(runtime));
  int major = 0, minor = 0, patch = 0;
  cublasGetProperty(MAJOR_VERSION, &major);
  cublasGetProperty(MINOR_VERSION, &minor);
  cublasGetProperty(PATCH_LEVEL, &patch);
  out.emplace_back("cublas", fmt::format("{}.{}.{}", major, minor, patch));
  int nccl = 0;
  ncclGetVersion(&nccl);
  out.emplace_back("nccl", fmt::format("{}.{}.{}", nccl / 10000, nccl / 100 % 100, nccl % 100));
  out.emplace_back("date", utc_now());
  out.emplace_back("command", command);
  out.emplace_back("nccl_env", nccl_environment());
#ifdef COMET_VERSION
  out.emplace_back("comet_version", COMET_VERSION);
#endif
  return out;
}

}  // namespace comet
