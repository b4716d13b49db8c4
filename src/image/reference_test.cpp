#include "ferry/image/reference.hpp"

#include <gtest/gtest.h>

#include "ferry/core/error.hpp"

namespace ferry::image {

TEST(Reference, NormalisesAsDocker) {
  struct Case {
    const char* in;
    const char* out;
  } cases[] = {
      {"ubuntu", "docker.io/library/ubuntu:latest"},
      {"ubuntu:24.04", "docker.io/library/ubuntu:24.04"},
      {"docker://ubuntu", "docker.io/library/ubuntu:latest"},
      {"user/app", "docker.io/user/app:latest"},
      {"index.docker.io/ubuntu", "docker.io/library/ubuntu:latest"},
      {"localhost/app", "localhost/app:latest"},
      {"localhost:5000/a/b:c", "localhost:5000/a/b:c"},
      {"registry.example.org/group/sub/app:v1.2-rc_3", "registry.example.org/group/sub/app:v1.2-rc_3"},
      {"ghcr.io/o/p@sha256:" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
       "ghcr.io/o/p@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
      {"[::1]:5000/x", "[::1]:5000/x:latest"},
      {"a__b/c---d.e_f", "docker.io/a__b/c---d.e_f:latest"},
  };
  for (const auto& c : cases) EXPECT_EQ(parse_reference(c.in).str(), c.out) << c.in;
}

TEST(Reference, FamiliarForm) {
  EXPECT_EQ(parse_reference("ubuntu").familiar(), "ubuntu:latest");
  EXPECT_EQ(parse_reference("user/app:1").familiar(), "user/app:1");
  EXPECT_EQ(parse_reference("quay.io/x/y").familiar(), "quay.io/x/y:latest");
}

TEST(Reference, RejectsMalformedWithOneLine) {
  for (const char* bad : {"", "Ubuntu", "ubuntu:", "ubuntu:-x", "a//b", "-a", "a-", "a@sha256:12",
                          "ubuntu@md5:0123", "reg istry/x", "x/y:tag with space", "a/B", ":tag",
                          "example.com:/x", "a.b:5000x/y"}) {
    try {
      parse_reference(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_EQ(msg.rfind("invalid reference '", 0), 0u) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos);
    }
  }
}

TEST(Reference, UppercaseRepositorySaysSo) {
  try {
    parse_reference("Ubuntu");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "invalid reference 'Ubuntu': repository name must be lowercase");
  }
}

TEST(Reference, Digest) {
  EXPECT_TRUE(is_digest("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
  EXPECT_FALSE(is_digest("sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"));
  EXPECT_FALSE(is_digest("sha512:00"));
}

}  // namespace ferry::image
