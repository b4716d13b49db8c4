#include <gtest/gtest.h>

#include <string>

#include "ferry/hpc/slurm_relay_wire.h"
#include "slurm_relay_internal.hpp"

namespace ferry::hpc {
namespace {

using namespace std::string_literals;

FerryRelayRequest header(uint32_t argc, uint32_t envc, size_t length) {
  return {FERRY_RELAY_MAGIC, argc, envc, static_cast<uint32_t>(length)};
}

TEST(SlurmRelay, ParsesNameCwdArgumentsAndEnvironment) {
  std::string s = "srun\0/work\0-n2\0\0A=1\0B=\0"s;
  auto r = parse_relay_request(header(2, 2, s.size()), s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->name, "srun");
  EXPECT_EQ(r->cwd, "/work");
  EXPECT_EQ(r->args, (std::vector<std::string>{"-n2", ""}));
  EXPECT_EQ(r->env, (std::vector<std::string>{"A=1", "B="}));
}

TEST(SlurmRelay, RejectsRequestsThatDoNotAddUp) {
  std::string s = "srun\0/w\0a\0"s;
  EXPECT_FALSE(parse_relay_request(header(2, 0, s.size()), s));      // one string short
  EXPECT_FALSE(parse_relay_request(header(0, 0, s.size()), s));      // one too many
  EXPECT_FALSE(parse_relay_request(header(1, 0, s.size() + 1), s));  // length is not the bytes
  EXPECT_FALSE(parse_relay_request(header(1, 0, s.size() - 1), s.substr(0, s.size() - 1)));  // no final NUL
  auto bad = header(1, 0, s.size());
  bad.magic = 0;
  EXPECT_FALSE(parse_relay_request(bad, s));
  EXPECT_FALSE(relay_header_ok(header(0, 0, FERRY_RELAY_MAX_LENGTH + 1)));
  EXPECT_FALSE(relay_header_ok(header(FERRY_RELAY_MAX_STRINGS, 0xffffffffu, 0)));  // no overflow
  EXPECT_TRUE(relay_header_ok(header(1, 0, s.size())));
}

TEST(SlurmRelay, TakesPathAndLoaderVariablesFromTheHost) {
  auto env =
      relay_environment({"PATH=/.ferry/bin:/bin", "LD_LIBRARY_PATH=/.ferry/mpi/lib", "LD_PRELOAD=/x.so",
                         "SLURM_JOB_ID=7", "HOME=/home/u", "LOCPATH=/c"},
                        {"PATH=/usr/bin:/bin", "LD_LIBRARY_PATH=/opt/slurm/lib", "SLURM_JOB_ID=8", "TERM=x"});
  EXPECT_EQ(env, (std::vector<std::string>{"SLURM_JOB_ID=7", "HOME=/home/u", "PATH=/usr/bin:/bin",
                                           "LD_LIBRARY_PATH=/opt/slurm/lib"}));
}

}  // namespace
}  // namespace ferry::hpc
