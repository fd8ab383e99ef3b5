// Routing generators: conservation, determinism, the shape each kind promises, trace files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <algorithm>
#include <numeric>
#include <random>
#include <set>

#include "input_error.hpp"
#include "sequential_binomials.hpp"
#include "workload.hpp"

namespace comet {
namespace {

constexpr RoutingShape SHAPE{64, 16, 32, 4};  // 64 GPUs, EP 16, 32 experts, top-4

WorkloadSpec spec_of(RoutingKind kind, std::uint64_t seed = 7) {
  WorkloadSpec spec;
  spec.tokens_per_gpu = 512;
  spec.steps = 4;
  spec.seed = seed;
  spec.routing.kind = kind;
  return spec;
}

double share_of(const RoutingMatrix& m, const std::vector<int>& experts) {
  const std::vector<std::int64_t> per = m.per_expert();
  double part = 0.0;
  for (int e : experts) part += static_cast<double>(per[e]);
  return part / static_cast<double>(m.total());
}

std::vector<int> hottest(const RoutingMatrix& m, int count) {
  const std::vector<std::int64_t> per = m.per_expert();
  std::vector<int> order(per.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return per[a] > per[b]; });
  order.resize(count);
  return order;
}

TEST(Workload, EveryKindConservesCopiesAndRespectsTopK) {
  for (RoutingKind kind : {RoutingKind::UNIFORM, RoutingKind::ZIPF, RoutingKind::HOT_EXPERTS, RoutingKind::AFFINITY,
                           RoutingKind::ROTATING}) {
    WorkloadSpec spec = spec_of(kind);
    spec.routing.alpha = 2.0;  // strong skew: the 1/top_k cap must hold
    spec.routing.hot_share = 0.9;
    const RoutingMatrix m = Workload(spec, SHAPE).sample(1);
    for (int src = 0; src < SHAPE.num_gpus; ++src) {
      std::int64_t row = 0;
      for (int e = 0; e < SHAPE.num_experts; ++e) {
        ASSERT_GE(m.at(src, e), 0);
        ASSERT_LE(m.at(src, e), spec.tokens_per_gpu) << "a token picks an expert at most once";
        row += m.at(src, e);
      }
      ASSERT_EQ(row, spec.tokens_per_gpu * SHAPE.top_k) << to_string(kind);
    }
  }
}

// The draws expert by expert, sharing the binomial's parameters between sources with the same
// copies left, are exactly each source drawn alone (a fresh binomial per expert, in expert order,
// stopping at none left): on probabilities with zeros and an expert that takes all that is left
// before the last, and sources of many equal and some different counts, zero included.
TEST(Workload, SequentialBinomialsEqualEachSourceDrawnAlone) {
  std::mt19937 pick(3);
  for (int trial = 0; trial < 40; ++trial) {
    const int experts = 2 + static_cast<int>(pick() % 40);
    std::vector<double> p(experts);
    for (double& v : p) v = pick() % 5 == 0 ? 0.0 : std::uniform_real_distribution<double>(0.1, 1.0)(pick);
    if (trial % 4 == 0) std::fill(p.begin() + experts / 2 + 1, p.end(), 0.0);  // all left goes before the last
    const double sum = std::accumulate(p.begin(), p.end(), 0.0);
    if (sum == 0.0) p[0] = 1.0;
    for (double& v : p) v /= sum == 0.0 ? 1.0 : sum;
    const std::vector<std::int64_t> counts{0, 1, 7, 50, 50, 50, 50, 1000, 1000, 1000, 4096, 33};
    const int sources = 30;
    std::vector<std::int32_t> shared(static_cast<std::size_t>(sources * experts), 0), alone(shared);
    std::vector<SourceDraw> draws;
    for (int s = 0; s < sources; ++s)
      draws.push_back({std::mt19937_64(1000u * trial + s), counts[s % counts.size()], shared.data() + s * experts});
    draw_sequential_binomials(p, draws);
    for (int s = 0; s < sources; ++s) {
      std::mt19937_64 rng(1000u * trial + s);
      std::int64_t remaining = counts[s % counts.size()];
      double mass = 1.0;
      for (int e = 0; e < experts && remaining > 0; ++e) {
        const double q = mass > 0.0 ? std::clamp(p[e] / mass, 0.0, 1.0) : 0.0;
        const std::int64_t n =
            e + 1 == experts || q >= 1.0 ? remaining : std::binomial_distribution<std::int64_t>(remaining, q)(rng);
        alone[static_cast<std::size_t>(s * experts + e)] = static_cast<std::int32_t>(n);
        remaining -= n;
        mass -= p[e];
      }
      EXPECT_EQ(draws[s].remaining, 0) << "trial " << trial << ", source " << s;
    }
    ASSERT_EQ(shared, alone) << "trial " << trial;
  }
}

TEST(Workload, SameSeedSameMatrixOtherSeedOtherMatrix) {
  const Workload a(spec_of(RoutingKind::ZIPF, 3), SHAPE), b(spec_of(RoutingKind::ZIPF, 3), SHAPE),
      c(spec_of(RoutingKind::ZIPF, 4), SHAPE);
  EXPECT_EQ(a.sample(2), b.sample(2));
  EXPECT_FALSE(a.sample(2) == c.sample(2));
  EXPECT_FALSE(a.sample(1) == a.sample(2)) << "steps draw independently";
}

TEST(Workload, UniformIsBalancedAndZipfIsSkewed) {
  const RoutingMatrix uniform = Workload(spec_of(RoutingKind::UNIFORM), SHAPE).sample(0);
  EXPECT_LT(max_over_mean(uniform.per_expert()), 1.1);
  WorkloadSpec zipf = spec_of(RoutingKind::ZIPF);
  zipf.routing.alpha = 1.0;
  const RoutingMatrix skewed = Workload(zipf, SHAPE).sample(0);
  // Rank 1 of 32 under Zipf(1): p = 1 / H_32 = 0.246, capped at 1/top_k = 0.25: max/mean ~ 7.9.
  EXPECT_NEAR(max_over_mean(skewed.per_expert()), 32 * 0.2464, 0.3);
}

TEST(Workload, HotExpertsTakeTheirShare) {
  WorkloadSpec spec = spec_of(RoutingKind::HOT_EXPERTS);
  spec.routing.hot_experts = 4;
  spec.routing.hot_share = 0.6;  // 0.15 each, under the 0.25 cap
  const RoutingMatrix m = Workload(spec, SHAPE).sample(0);
  EXPECT_NEAR(share_of(m, hottest(m, 4)), 0.6, 0.02);
}

TEST(Workload, HotRankSendsItsMultiple) {
  WorkloadSpec spec = spec_of(RoutingKind::HOT_RANK);
  spec.routing.hot_rank = 5;
  spec.routing.factor = 3.0;
  const std::vector<std::int64_t> sent = Workload(spec, SHAPE).sample(0).per_source();
  EXPECT_EQ(sent[5], 3 * spec.tokens_per_gpu * SHAPE.top_k);
  EXPECT_EQ(sent[4], spec.tokens_per_gpu * SHAPE.top_k);
}

TEST(Workload, AffinityGroupsPreferTheirExperts) {
  WorkloadSpec spec = spec_of(RoutingKind::AFFINITY);
  spec.routing.groups = 4;
  spec.routing.strength = 0.8;
  const RoutingMatrix m = Workload(spec, SHAPE).sample(0);
  // Sources 0..3 of each EP group of 16 form group 0; their favourite 8 experts take
  // 0.8 + 0.2 x 8/32 = 0.85 of their copies.
  auto rows = [&](int first) {
    RoutingMatrix part(4, SHAPE.num_experts);
    for (int src = 0; src < 4; ++src)
      for (int e = 0; e < SHAPE.num_experts; ++e) part.at(src, e) = m.at(first + src, e);
    return part;
  };
  const RoutingMatrix group0 = rows(0), group3 = rows(12);
  EXPECT_NEAR(share_of(group0, hottest(group0, 8)), 0.85, 0.03);
  const auto favourites0 = hottest(group0, 8), favourites3 = hottest(group3, 8);
  for (int e : favourites3) EXPECT_EQ(std::count(favourites0.begin(), favourites0.end(), e), 0) << "disjoint subsets";
}

TEST(Workload, RotatingHotspotMovesEveryPeriod) {
  WorkloadSpec spec = spec_of(RoutingKind::ROTATING);
  spec.routing.hot_experts = 2;
  spec.routing.hot_share = 0.4;
  spec.routing.period = 2;
  const Workload w(spec, SHAPE);
  const auto hot0 = hottest(w.sample(0), 2), hot1 = hottest(w.sample(1), 2), hot2 = hottest(w.sample(2), 2);
  EXPECT_EQ(std::set<int>(hot0.begin(), hot0.end()), std::set<int>(hot1.begin(), hot1.end()));
  EXPECT_NE(std::set<int>(hot0.begin(), hot0.end()), std::set<int>(hot2.begin(), hot2.end()));
}

TEST(Workload, BurstStepsMultiplyTheTokens) {
  WorkloadSpec spec = spec_of(RoutingKind::BURST);
  spec.routing.probability = 1.0;
  spec.routing.factor = 2.0;
  EXPECT_EQ(Workload(spec, SHAPE).sample(3).total(), 2 * spec.tokens_per_gpu * SHAPE.top_k * SHAPE.num_gpus);
  spec.routing.probability = 0.0;
  EXPECT_EQ(Workload(spec, SHAPE).sample(3).total(), spec.tokens_per_gpu * SHAPE.top_k * SHAPE.num_gpus);
}

TEST(Workload, ZeroTokensIsLegal) {
  WorkloadSpec spec = spec_of(RoutingKind::ZIPF);
  spec.tokens_per_gpu = 0;
  EXPECT_EQ(Workload(spec, SHAPE).sample(0).total(), 0);
}

class TraceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("comet_trace_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path write(const std::string& text) {
    const auto path = dir_ / "trace.csv";
    std::ofstream(path) << text;
    return path;
  }
  void expect_error(const std::string& text, int line, const std::string& words) {
    const auto path = write(text);
    try {
      read_trace_csv(path, SHAPE);
      FAIL() << "accepted: " << text;
    } catch (const InputError& error) {
      EXPECT_EQ(error.location().line, line) << error.what();
      EXPECT_NE(std::string(error.what()).find(words), std::string::npos) << error.what();
    }
  }
  std::filesystem::path dir_;
};

TEST_F(TraceTest, ExportThenImportGivesTheSameMatrices) {
  const Workload w(spec_of(RoutingKind::ZIPF), SHAPE);
  std::vector<RoutingMatrix> steps{w.sample(0), w.sample(1), RoutingMatrix(SHAPE.num_gpus, SHAPE.num_experts)};
  write_trace_csv(dir_ / "out.csv", steps);
  EXPECT_EQ(read_trace_csv(dir_ / "out.csv", SHAPE), steps);
  WorkloadSpec trace = spec_of(RoutingKind::TRACE);
  trace.steps = 2;  // after the trace's first step, which placements are fitted on
  trace.routing.trace = dir_ / "out.csv";
  const Workload replay(trace, SHAPE);
  EXPECT_EQ(replay.fit_sample(0), steps[0]);
  EXPECT_EQ(replay.sample(0), steps[1]);
  EXPECT_EQ(replay.sample(1), steps[2]);
  trace.steps = 3;  // one step short: named, not silently shifted
  EXPECT_THROW(Workload(trace, SHAPE), InputError);
  trace.placement_fit_steps = 0;
  EXPECT_EQ(Workload(trace, SHAPE).sample(1), steps[1]);
}

// Placements are fitted on the steps before the run: with the hot set rotating every step, the
// fit step's hot experts are not the scored step's, and the steps before 0 continue the rotation.
TEST(Workload, FitStepsComeBeforeTheRunAndRotateWithIt) {
  WorkloadSpec spec = spec_of(RoutingKind::ROTATING);
  spec.routing.period = 1;
  spec.routing.hot_experts = 1;
  spec.routing.hot_share = 0.9;
  spec.steps = 2;
  spec.placement_fit_steps = 2;
  const Workload w(spec, SHAPE);
  auto hottest = [](const RoutingMatrix& m) {
    const std::vector<std::int64_t> load = m.per_expert();
    return static_cast<int>(std::max_element(load.begin(), load.end()) - load.begin());
  };
  const int fit0 = hottest(w.fit_sample(0)), fit1 = hottest(w.fit_sample(1)), run0 = hottest(w.sample(0)),
            run1 = hottest(w.sample(1));
  EXPECT_EQ(std::set<int>({fit0, fit1, run0, run1}).size(), 4u) << "four periods, four hot experts";
  EXPECT_EQ(w.placement_routing(2).total(), w.fit_sample(0).total() + w.fit_sample(1).total());
  spec.placement_fit_steps = 0;  // foresight: the scored steps themselves
  const Workload foresight(spec, SHAPE);
  EXPECT_EQ(foresight.placement_routing(2).total(), foresight.sample(0).total() + foresight.sample(1).total());
  EXPECT_EQ(hottest(foresight.placement_routing(1)), run0);
}

TEST_F(TraceTest, BadTracesNameTheLine) {
  const std::string header = "step,src_gpu,expert,tokens\n";
  expect_error(header + "0,1,2,3\n0,1,32,5\n", 3, "unknown expert 32");
  expect_error(header + "0,64,2,3\n", 2, "outside the scenario's 64 GPUs");
  expect_error("# gpus=128 experts=32\n" + header, 1, "the scenario has 64");
  expect_error("step,gpu,expert,tokens\n", 1, "header");
  expect_error(header + "0,1,2,3\n0,1,2,4\n", 3, "duplicate");
  expect_error(header + "0,1,2,-3\n", 2, "whole number");
  expect_error(header + "0,1,2\n", 2, "4 comma-separated");
  expect_error(header + "0,1,2,3\n2,1,2,3\n", 0, "step 1 is missing");
}

}  // namespace
}  // namespace comet
