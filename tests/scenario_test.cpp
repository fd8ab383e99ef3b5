// Scenario and topology files: defaults resolve, errors point at the right line and key.
#include <gtest/gtest.h>

#include "test_support.hpp"

namespace comet {
namespace {

Scenario scenario_from_yaml(const std::string& text) {
  return parse_scenario(load_yaml_text(text, "s.yaml"), ".");
}

const std::string VALID = R"(name: s
topology: dgx-h100
model:
  preset: mixtral-8x7b
parallelism:
  expert_parallel: 8
workload:
  tokens_per_gpu: 4Ki
  routing: {kind: zipf, alpha: 1.1}
policies:
  partition: [none, "fixed:4"]
)";

TEST(Scenario, DefaultScenarioIsDeepSeekOn1024Gpus) {
  const Scenario s = default_scenario();
  EXPECT_EQ(s.num_gpus(), 1024);
  EXPECT_EQ(s.model.preset, "deepseek-v3");
  EXPECT_EQ(s.model.experts, 256);
  EXPECT_EQ(s.model.top_k, 8);
  EXPECT_EQ(s.expert_parallel, 256);
  EXPECT_EQ(s.data_parallel(), 4);
  EXPECT_EQ(s.experts_per_gpu(), 1);
}

TEST(Scenario, EveryShippedScenarioParsesAndBuilds) {
  for (const BuiltinFile& file : builtin_scenarios()) {
    const Scenario s = parse_scenario(load_yaml_text(std::string(file.text), std::string(file.name)), ".");
    const Topology t = build_topology(s.topology);
    EXPECT_EQ(t.num_gpus(), s.num_gpus()) << file.name;
    EXPECT_EQ(s.num_gpus() % s.expert_parallel, 0) << file.name;
  }
}

TEST(Scenario, ReadsValuesAndFillsUnlistedPolicyFamiliesWithTheBaseline) {
  const Scenario s = scenario_from_yaml(VALID);
  EXPECT_EQ(s.workload.tokens_per_gpu, 4096);
  EXPECT_EQ(s.workload.routing.kind, RoutingKind::ZIPF);
  EXPECT_DOUBLE_EQ(s.workload.routing.alpha, 1.1);
  ASSERT_EQ(s.partitions.size(), 2u);
  EXPECT_EQ(s.partitions[1].name, "fixed");
  EXPECT_EQ(s.partitions[1].parameter, 4);
  ASSERT_EQ(s.placements.size(), 1u);
  EXPECT_EQ(s.placements[0].name, "contiguous");
  EXPECT_EQ(s.a2a[0].name, "direct");
}

TEST(Scenario, ExplicitDimensionsOverrideThePreset) {
  std::string text = VALID;
  text.replace(text.find("  preset: mixtral-8x7b\n"), 23, "  preset: mixtral-8x7b\n  experts: 16\n  top_k: 4\n");
  const Scenario s = scenario_from_yaml(text);
  EXPECT_EQ(s.model.experts, 16);
  EXPECT_EQ(s.model.top_k, 4);
  EXPECT_EQ(s.model.hidden, 4096);
  EXPECT_EQ(s.experts_per_gpu(), 2);
}

// The error names the file, the line and column of the offending value, and the key path.
void expect_error(const std::string& text, const std::string& key_path, int line, const std::string& words) {
  try {
    scenario_from_yaml(text);
    FAIL() << "accepted:\n" << text;
  } catch (const InputError& error) {
    EXPECT_EQ(error.key_path(), key_path) << error.what();
    EXPECT_EQ(error.location().file, "s.yaml");
    EXPECT_EQ(error.location().line, line) << error.what();
    EXPECT_NE(std::string(error.what()).find(words), std::string::npos) << error.what();
  }
}

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

TEST(Scenario, ErrorsNameLineAndKeyPath) {
  expect_error(replace(VALID, "expert_parallel: 8", "expert_parallel: 3"), "parallelism.expert_parallel", 6,
               "divisor");
  expect_error(replace(VALID, "tokens_per_gpu: 4Ki", "tokens_per_gpu: many"), "workload.tokens_per_gpu", 8,
               "whole number");
  expect_error(replace(VALID, "alpha: 1.1", "alpha: -1"), "workload.routing.alpha", 9, "number in");
  expect_error(replace(VALID, "\"fixed:4\"", "\"fixed:0\""), "policies.partition[1]", 11, ">= 1");
  expect_error(replace(VALID, "preset: mixtral-8x7b", "preset: gpt-5"), "model.preset", 4, "unknown model preset");
  expect_error(replace(VALID, "  preset: mixtral-8x7b\n", "  preset: mixtral-8x7b\n  top_k: 9\n"), "model.top_k", 5,
               "larger than the expert count");
  expect_error(replace(VALID, "workload:", "workloads:"), "workloads", 7, "unknown key");
  expect_error(replace(VALID, "routing: {kind: zipf, alpha: 1.1}", "routing: {kind: uniform, alpha: 1.1}"),
               "workload.routing.alpha", 9, "takes no 'alpha'");
}

TEST(Scenario, ExpertsMustDivideOverTheExpertParallelGroup) {
  const std::string text = replace(VALID, "  preset: mixtral-8x7b\n", "  preset: mixtral-8x7b\n  experts: 12\n");
  expect_error(text, "parallelism.expert_parallel", 7, "do not divide");
}

TEST(Topology, SectionOfAnotherKindIsAnError) {
  try {
    testing::spec_from_yaml("name: t\nkind: tree\n" + testing::node_yaml(8) +
                            "tree: {fan_out: [2]}\nfat_tree: {k: 4, tiers: 2}\n");
    FAIL();
  } catch (const InputError& error) {
    EXPECT_EQ(error.key_path(), "fat_tree");
    EXPECT_EQ(error.location().line, 5);
  }
}

}  // namespace
}  // namespace comet
