#include "units.hpp"
#include <gtest/gtest.h>
TEST(Units, Placeholder2) { EXPECT_DOUBLE_EQ(comet::parse_quantity("450GB/s", comet::Dimension::BYTES_PER_SECOND), 450e9); }
