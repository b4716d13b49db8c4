#include "ferry/hpc/size.hpp"

#include <gtest/gtest.h>

#include "ferry/core/error.hpp"

namespace ferry::hpc {

TEST(ParseSize, UnitsArePowersOf1024) {
  EXPECT_EQ(parse_size("512"), 512u);
  EXPECT_EQ(parse_size("64K"), 64u << 10);
  EXPECT_EQ(parse_size("10m"), 10u << 20);
  EXPECT_EQ(parse_size("2G"), 2ull << 30);
  EXPECT_EQ(parse_size("2GiB"), 2ull << 30);
  EXPECT_EQ(parse_size("1TB"), 1ull << 40);
}

TEST(ParseSize, RejectsWhatIsNotASize) {
  for (const char* s : {"", "G", "-1", "1.5G", "10X", "0", "10 G", "99999999999999999999", "20000000T"})
    EXPECT_THROW(parse_size(s), Error) << s;
}

}  // namespace ferry::hpc
