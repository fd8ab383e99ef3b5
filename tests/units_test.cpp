// The one quantity parser: valid forms give base units, everything else is an error.
#include "units.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace comet {
namespace {

struct Valid {
  const char* text;
  Dimension dimension;
  double expected;
};

void PrintTo(const Valid& c, std::ostream* out) { *out << '"' << c.text << '"'; }

class ValidQuantity : public ::testing::TestWithParam<Valid> {};

TEST_P(ValidQuantity, ParsesToBaseUnits) {
  const Valid& c = GetParam();
  EXPECT_DOUBLE_EQ(parse_quantity(c.text, c.dimension), c.expected) << c.text;
}

INSTANTIATE_TEST_SUITE_P(
    Units, ValidQuantity,
    ::testing::Values(
        Valid{"450GB/s", Dimension::BYTES_PER_SECOND, 450e9},
        Valid{"400Gbps", Dimension::BYTES_PER_SECOND, 50e9},       // bits: 400e9 / 8
        Valid{"400Gb/s", Dimension::BYTES_PER_SECOND, 50e9},
        Valid{"25GiB/s", Dimension::BYTES_PER_SECOND, 25.0 * 1073741824.0},
        Valid{"100MBps", Dimension::BYTES_PER_SECOND, 100e6},
        Valid{"1.5 TB/s", Dimension::BYTES_PER_SECOND, 1.5e12},
        Valid{"2us", Dimension::SECONDS, 2e-6},
        Valid{"1.5ms", Dimension::SECONDS, 1.5e-3},
        Valid{"3ns", Dimension::SECONDS, 3e-9},
        Valid{"0.25s", Dimension::SECONDS, 0.25},
        Valid{"2\u00b5s", Dimension::SECONDS, 2e-6},
        Valid{"64MiB", Dimension::BYTES, 64.0 * 1048576.0},
        Valid{"1.5GB", Dimension::BYTES, 1.5e9},
        Valid{"8Gb", Dimension::BYTES, 1e9},                         // 8 gigabits = 1 GB
        Valid{"4KiB", Dimension::BYTES, 4096},
        Valid{"4096", Dimension::BYTES, 4096},
        Valid{"4096", Dimension::COUNT, 4096},
        Valid{"4Ki", Dimension::COUNT, 4096},
        Valid{"1.5k", Dimension::COUNT, 1500},
        Valid{"1e3", Dimension::COUNT, 1000},
        Valid{"0", Dimension::BYTES, 0}));

struct Invalid {
  const char* text;
  Dimension dimension;
  const char* reason;  // a word the message must contain
};

void PrintTo(const Invalid& c, std::ostream* out) { *out << '"' << c.text << '"'; }

class InvalidQuantity : public ::testing::TestWithParam<Invalid> {};

TEST_P(InvalidQuantity, IsRejectedWithAReason) {
  const Invalid& c = GetParam();
  try {
    const double value = parse_quantity(c.text, c.dimension);
    FAIL() << "'" << c.text << "' parsed as " << value;
  } catch (const UnitError& error) {
    EXPECT_NE(std::string(error.what()).find(c.reason), std::string::npos)
        << "'" << c.text << "': " << error.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Units, InvalidQuantity,
    ::testing::Values(Invalid{"", Dimension::BYTES, "empty"},
                      Invalid{"   ", Dimension::COUNT, "empty"},
                      Invalid{"GB", Dimension::BYTES, "number"},
                      Invalid{"-1GB", Dimension::BYTES, "negative"},
                      Invalid{"-2us", Dimension::SECONDS, "negative"},
                      Invalid{"inf", Dimension::COUNT, "finite"},
                      Invalid{"nan", Dimension::BYTES, "finite"},
                      Invalid{"1e400", Dimension::BYTES, "number"},
                      Invalid{"10furlongs", Dimension::BYTES, "unknown unit"},
                      Invalid{"450GB/h", Dimension::BYTES_PER_SECOND, "unknown unit"},
                      Invalid{"450GB", Dimension::BYTES_PER_SECOND, "unknown unit"},  // a size, not a rate
                      Invalid{"450", Dimension::BYTES_PER_SECOND, "no unit"},
                      Invalid{"2", Dimension::SECONDS, "no unit"},
                      Invalid{"1ms", Dimension::BYTES, "unknown unit"},  // a time, not a size
                      Invalid{"2mb", Dimension::BYTES, "unknown unit"},  // lower-case m is milli
                      Invalid{"4GB", Dimension::COUNT, "unknown unit"},
                      Invalid{"2 u s", Dimension::SECONDS, "unknown unit"}));

TEST(Units, FormatThenParseRoundTrips) {
  for (double bandwidth : {450e9, 50e9, 1.25e12, 3e6}) {
    const std::string text = format_quantity(bandwidth, Dimension::BYTES_PER_SECOND);
    std::string compact = text;
    compact.erase(std::remove(compact.begin(), compact.end(), ' '), compact.end());
    EXPECT_DOUBLE_EQ(parse_quantity(compact, Dimension::BYTES_PER_SECOND), bandwidth) << text;
  }
  EXPECT_EQ(format_quantity(64.0 * 1048576.0, Dimension::BYTES), "64 MiB");
  EXPECT_EQ(format_quantity(2e-6, Dimension::SECONDS), "2 us");
}

}  // namespace
}  // namespace comet
