// GPU test (label "gpu", 2 GPUs): `comet validate` end to end on a tiny scenario: every
// partition policy's output and gradients equal `none`'s (as a whole and row by row), `none`'s
// equal the CPU reference's forward and backward, every op is
// timed; and a rank that stops answering is caught by the watchdog (exit 3, no hang).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gpu_test_support.hpp"
#include "run_comet.hpp"

namespace {

using CommandRun = comet::testing::CometRun;

// Under `timeout`: a hang fails these tests in a minute instead of holding the machine.
CommandRun run_comet(const std::string& arguments) { return comet::testing::run_comet(arguments, true, 60); }

const std::string TINY = std::string(COMET_SOURCE_DIR) + "/tests/data/validate-tiny.yaml";

TEST(ValidateCli, EveryPolicyMatchesNoneAndNoneMatchesCpu) {
  COMET_REQUIRE_GPUS(2);
  const std::string out = (std::filesystem::temp_directory_path() / ("comet_validate_" + std::to_string(::getpid()) + ".json")).string();
  for (const char* placement : {"contiguous", "strided"}) {
    const CommandRun run = run_comet("validate " + TINY + " --measure-only --placement " + placement + " --warmup 1 --repeats 3 -o " + out);
    ASSERT_EQ(run.exit_code, 0) << run.output;
    std::ifstream file(out);
    const nlohmann::json json = nlohmann::json::parse(file);
    ASSERT_EQ(json["policies"].size(), 4u) << run.output;
    for (const auto& policy : json["policies"]) {
      SCOPED_TRACE(policy["partition"].get<std::string>());
      EXPECT_TRUE(policy["pass"].get<bool>());
      ASSERT_TRUE(policy["error_vs_none"].is_number());
      EXPECT_LT(policy["error_vs_none"].get<double>(), 2e-2);
      ASSERT_TRUE(policy["row_error_vs_none"].is_number());
      EXPECT_LT(policy["row_error_vs_none"].get<double>(), 5e-2);
      EXPECT_GT(policy["layer_time_s"].get<double>(), 0.0);
      for (const auto& op : policy["timeline"]["ops"]) {
        EXPECT_GE(op["start_s"].get<double>(), 0.0);
        EXPECT_GE(op["end_s"].get<double>(), op["start_s"].get<double>());
      }
    }
    const auto& none = json["policies"][0];
    EXPECT_EQ(none["partition"], "none");
    ASSERT_TRUE(none["error_vs_cpu"].is_number()) << "the CPU reference must run at this size";
    EXPECT_LT(none["error_vs_cpu"].get<double>(), 2e-2);
    ASSERT_TRUE(none["row_error_vs_cpu"].is_number());
    EXPECT_LT(none["row_error_vs_cpu"].get<double>(), 5e-2);
  }
  std::filesystem::remove(out);
}

// One GPU (no all-to-all traffic): the chunked pipelines still move every row through the
// layer-wide expert buffers, so every policy's output, input gradient and weight gradients must
// match `none`, and `none` the CPU reference.
TEST(ValidateCli, OneGpuPipelinesMatchNoneAndCpu) {
  COMET_REQUIRE_GPUS(1);
  const std::string out = (std::filesystem::temp_directory_path() / ("comet_validate1_" + std::to_string(::getpid()) + ".json")).string();
  const CommandRun run = run_comet("validate " + std::string(COMET_SOURCE_DIR) + "/tests/data/validate-tiny-1gpu.yaml "
                                   "--measure-only --warmup 1 --repeats 2 -o " + out);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const nlohmann::json json = nlohmann::json::parse(std::ifstream(out));
  std::filesystem::remove(out);
  ASSERT_EQ(json["policies"].size(), 4u);
  for (const auto& policy : json["policies"]) {
    SCOPED_TRACE(policy["partition"].get<std::string>());
    EXPECT_TRUE(policy["pass"].get<bool>());
    ASSERT_TRUE(policy["error_vs_none"].is_number());
    EXPECT_LT(policy["error_vs_none"].get<double>(), 2e-2);
    ASSERT_TRUE(policy["row_error_vs_none"].is_number());
    EXPECT_LT(policy["row_error_vs_none"].get<double>(), 5e-2);
  }
  // none against the CPU's forward and backward: output, input gradient, first expert's weight gradients.
  ASSERT_TRUE(json["policies"][0]["error_vs_cpu"].is_number());
  EXPECT_LT(json["policies"][0]["error_vs_cpu"].get<double>(), 2e-2);
  ASSERT_TRUE(json["policies"][0]["row_error_vs_cpu"].is_number());
  EXPECT_LT(json["policies"][0]["row_error_vs_cpu"].get<double>(), 5e-2);
}

// A comet:B policy's report: output and every gradient as `none`'s, every op timed; and each
// all-to-all (between GPUs; one GPU has none) is when the transfer blocks of the fused launch that
// moves its rows ran, inside that launch's span (dispatch, combine-grad: the pass's first launch;
// combine, dispatch-grad: its second), up to the stamps' alignment and the medians' noise.
void expect_fused_policy_sound(const nlohmann::json& fused, const std::string& output) {
  EXPECT_EQ(fused["partition"], "comet:8");
  EXPECT_TRUE(fused["pass"].get<bool>()) << output;
  ASSERT_TRUE(fused["error_vs_none"].is_number());
  EXPECT_LT(fused["error_vs_none"].get<double>(), 2e-2);
  ASSERT_TRUE(fused["row_error_vs_none"].is_number());
  EXPECT_LT(fused["row_error_vs_none"].get<double>(), 5e-2);
  const auto& ops = fused["timeline"]["ops"];
  for (const auto& op : ops) {
    EXPECT_GE(op["start_s"].get<double>(), 0.0);
    EXPECT_GT(op["end_s"].get<double>(), op["start_s"].get<double>());
  }
  for (const auto& a2a : ops) {
    if (a2a["kind"] != "all_to_all") continue;
    const int stage = a2a["phase"] == "dispatch" || a2a["phase"] == "combine_grad" ? 0 : 1;
    int launches = 0;
    for (const auto& gemm : ops) {
      if (gemm["kind"] != "expert_gemm" || gemm["direction"] != a2a["direction"] || gemm["stage"] != stage) continue;
      ++launches;
      const double start = gemm["start_s"].get<double>(), end = gemm["end_s"].get<double>();
      const double slack = 50e-6 + 0.05 * (end - start);
      EXPECT_GE(a2a["start_s"].get<double>(), start - slack) << a2a.dump();
      EXPECT_LE(a2a["end_s"].get<double>(), end + slack) << a2a.dump();
    }
    EXPECT_GE(launches, 1) << a2a.dump();  // one per GPU
  }
}

// Runs `validate SCENARIO --partitions none,comet:8` and checks comet:8's report; skips where the
// fused kernels cannot run (no CUTLASS in this build, or not a Hopper GPU).
void run_fused_policy(const std::string& scenario, const std::string& name) {
  const std::string out = (std::filesystem::temp_directory_path() / (name + std::to_string(::getpid()) + ".json")).string();
  const CommandRun run = run_comet("validate " + scenario + " --partitions none,comet:8 --warmup 1 --repeats 2 -o " + out);
  if (run.exit_code == 2 && run.output.find("a partition this build and GPU run") != std::string::npos)
    GTEST_SKIP() << "SKIPPED: " << run.output;
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const nlohmann::json json = nlohmann::json::parse(std::ifstream(out));
  std::filesystem::remove(out);
  ASSERT_EQ(json["policies"].size(), 2u);
  expect_fused_policy_sound(json["policies"][1], run.output);
}

// COMET's fused kernels as a policy (comet:8) on one GPU: the same Plan the simulator runs, its
// expert passes as fused launches (transfer blocks pulling the rows beside the GEMM).
TEST(ValidateCli, OneGpuFusedPolicyMatchesNone) {
  COMET_REQUIRE_GPUS(1);
  run_fused_policy(std::string(COMET_SOURCE_DIR) + "/tests/data/validate-tiny-1gpu.yaml", "comet_validate_fused_");
}

// The same between two GPUs (threads of one process): the launches read and write the other GPU's
// buffers through peer access, ordered by the ranks' milestones (validate/fused_rank_order.hpp).
TEST(ValidateCli, TwoGpuFusedPolicyMatchesNone) {
  COMET_REQUIRE_GPUS(2);
  run_fused_policy(TINY, "comet_validate_fused_2gpu_");
}

// A source whose rows never come to the fused kernels: their waits give up after --watchdog
// seconds, the launch ends (no hang) and the run stops with exit 3, saying what was waited for.
TEST(ValidateCli, OneGpuFusedWatchdogExitsThree) {
  COMET_REQUIRE_GPUS(1);
  const CommandRun run = run_comet("validate " + std::string(COMET_SOURCE_DIR) + "/tests/data/validate-tiny-1gpu.yaml "
                                   "--measure-only --partitions none,comet:8 --warmup 0 --repeats 1 --watchdog 2 "
                                   "--inject-fault silent-rank:0");
  if (run.exit_code == 2 && run.output.find("a partition this build and GPU run") != std::string::npos)
    GTEST_SKIP() << "SKIPPED: " << run.output;
  EXPECT_EQ(run.exit_code, 3) << run.output;
  EXPECT_NE(run.output.find("gave up waiting"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("flags short"), std::string::npos) << run.output;
  EXPECT_LT(run.seconds, 60.0);
}

TEST(ValidateCli, WatchdogAbortsWhenAPeerStopsAnswering) {
  COMET_REQUIRE_GPUS(2);
  const CommandRun run = run_comet("validate " + TINY + " --measure-only --partitions none --warmup 0 --repeats 1 --watchdog 5 "
                                   "--inject-fault silent-rank:1");
  EXPECT_EQ(run.exit_code, 3) << run.output;
  EXPECT_NE(run.output.find("watchdog"), std::string::npos) << run.output;
  EXPECT_LT(run.seconds, 60.0);
}

// Experts too large for any GPU here (H = F = 65536: 25 GB of weights per expert, gradients as
// much again): the run stops with exit 3 and names the buffer that did not fit and its size.
TEST(ValidateCli, OutOfMemoryNamesTheBuffer) {
  COMET_REQUIRE_GPUS(2);
  const std::string file = (std::filesystem::temp_directory_path() / ("comet_oom_" + std::to_string(::getpid()) + ".yaml")).string();
  std::ofstream(file) << R"(name: too-big
topology:
  name: node-2
  kind: node
  node: {gpus: 2, fabric: nvswitch, gpu_link_bandwidth: 450GB/s, nics: 0}
model: {hidden: 65536, expert_ffn: 65536, experts: 8, top_k: 2, layers: 1, moe_layers: 1, heads: 4, kv_heads: 4, head_dim: 64}
parallelism: {expert_parallel: 2}
workload: {tokens_per_gpu: 64, steps: 1, seed: 1, routing: {kind: uniform}}
)";
  const CommandRun run = run_comet("validate " + file + " --measure-only --partitions none --warmup 0 --repeats 1");
  std::filesystem::remove(file);
  EXPECT_EQ(run.exit_code, 3) << run.output;
  EXPECT_NE(run.output.find("out of GPU memory: buffer '"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("GiB"), std::string::npos) << run.output;
}

#ifdef COMET_HAVE_MPI
// One MPI process per GPU runs the same Plans as the threaded launch: every policy still matches
// `none`, and `none`'s output, gathered from both processes in rank order, is the threaded
// launch's to the last bit (same seeds, same kernels): a mix-up in the gather would not be.
TEST(ValidateCli, MpiLaunchMatchesTheThreadedLaunch) {
  COMET_REQUIRE_GPUS(2);
  const std::string base = (std::filesystem::temp_directory_path() / ("comet_mpi_" + std::to_string(::getpid()))).string();
  const std::string comet = COMET_BINARY;
  const std::string validate = comet.substr(0, comet.rfind('/') + 1) + "comet-validate";
  const std::string args = " " + TINY + " --measure-only --warmup 1 --repeats 3 -o ";
  const CommandRun threads = comet::testing::run_command("timeout -k 5 60 " + validate + args + base + "-threads.json");
  ASSERT_EQ(threads.exit_code, 0) << threads.output;
  const CommandRun mpi = comet::testing::run_command(comet::testing::mpirun(2) + validate + args + base + "-mpi.json");
  ASSERT_EQ(mpi.exit_code, 0) << mpi.output;
  const nlohmann::json a = nlohmann::json::parse(std::ifstream(base + "-threads.json"));
  const nlohmann::json b = nlohmann::json::parse(std::ifstream(base + "-mpi.json"));
  ASSERT_EQ(a["policies"].size(), b["policies"].size());
  for (const auto& policy : b["policies"]) {
    SCOPED_TRACE(policy["partition"].get<std::string>());
    EXPECT_TRUE(policy["pass"].get<bool>());
    EXPECT_GT(policy["layer_time_s"].get<double>(), 0.0);
  }
  EXPECT_EQ(a["policies"][0]["error_vs_cpu"], b["policies"][0]["error_vs_cpu"]);
  std::filesystem::remove(base + "-threads.json");
  std::filesystem::remove(base + "-mpi.json");
}
#endif

}  // namespace
