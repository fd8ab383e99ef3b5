// The paired ratio comet_gpu_bench reports as vs_cub / vs_grp: quartiles of per-round ratios.
#include "paired_ratio.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "median.hpp"

namespace comet {
namespace {

TEST(Quantile, InterpolatesBetweenOrderStatisticsAndAgreesWithTheMedian) {
  const std::vector<double> odd{5, 1, 4, 2, 3};
  EXPECT_DOUBLE_EQ(quantile(odd, 0.25), 2.0);
  EXPECT_DOUBLE_EQ(quantile(odd, 0.5), median(odd));
  EXPECT_DOUBLE_EQ(quantile(odd, 0.75), 4.0);
  const std::vector<double> even{10, 40, 20, 30};  // sorted 10 20 30 40: positions 0.75, 1.5, 2.25
  EXPECT_DOUBLE_EQ(quantile(even, 0.25), 17.5);
  EXPECT_DOUBLE_EQ(quantile(even, 0.5), median(even));
  EXPECT_DOUBLE_EQ(quantile(even, 0.75), 32.5);
  EXPECT_DOUBLE_EQ(quantile({}, 0.5), 0.0);
  EXPECT_DOUBLE_EQ(quantile({7}, 0.75), 7.0);
}

// A clock that moves both variants of a round alike leaves every paired ratio exact, whatever it
// does between rounds.
TEST(PairedRatio, CancelsAStateSharedByBothVariantsOfARound) {
  const std::vector<double> clock{1.00, 1.12, 0.95, 1.20, 1.05, 0.90, 1.15};
  std::vector<double> reference, kernel;
  for (std::size_t r = 0; r < clock.size(); ++r) {
    reference.push_back(2.445 * clock[r]);
    kernel.push_back(2.870 * clock[r]);
  }
  const Quartiles q = paired_ratio(reference, kernel);
  EXPECT_NEAR(q.q1, 2.445 / 2.870, 1e-12);
  EXPECT_NEAR(q.median, 2.445 / 2.870, 1e-12);
  EXPECT_NEAR(q.q3, 2.445 / 2.870, 1e-12);
}

TEST(PairedRatio, QuartilesOfThePerRoundRatios) {
  // Ratios 0.5, 2, 1, 4 (rounds in that order): sorted 0.5 1 2 4.
  const Quartiles q = paired_ratio({1, 4, 3, 8}, {2, 2, 3, 2});
  EXPECT_DOUBLE_EQ(q.q1, 0.875);
  EXPECT_DOUBLE_EQ(q.median, 1.5);
  EXPECT_DOUBLE_EQ(q.q3, 2.5);
}

TEST(PairedRatio, RejectsUnpairedRoundsAndZeroTimes) {
  EXPECT_THROW(paired_ratio({1, 2}, {1}), std::invalid_argument);
  EXPECT_THROW(paired_ratio({1, 2}, {1, 0}), std::invalid_argument);
}

}  // namespace
}  // namespace comet
