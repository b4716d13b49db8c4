// Challenge, token, Retry-After and error-body parsing (auth.hpp).
#include "ferry/registry/auth.hpp"

#include <gtest/gtest.h>

#include "ferry/core/error.hpp"
#include "ferry/registry/http.hpp"

namespace ferry::registry {
namespace {

TEST(Challenge, BearerWithParams) {
  auto c = parse_challenge(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull")");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->scheme, "bearer");
  EXPECT_EQ(c->param("realm"), "https://auth.docker.io/token");
  EXPECT_EQ(c->param("service"), "registry.docker.io");
  EXPECT_EQ(c->param("scope"), "repository:library/ubuntu:pull");
}

TEST(Challenge, BasicAndCaseAndSpaces) {
  auto c = parse_challenge(R"(BASIC   Realm = "Registry Realm")");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->scheme, "basic");
  EXPECT_EQ(c->param("realm"), "Registry Realm");
}

TEST(Challenge, SkipsUnknownSchemesAndEscapes) {
  auto c = parse_challenge(R"(Negotiate abc, Bearer realm="https://x/t\"q",service=svc)");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->scheme, "bearer");
  EXPECT_EQ(c->param("realm"), "https://x/t\"q");
  EXPECT_EQ(c->param("service"), "svc");
}

TEST(Challenge, NoneOrGarbage) {
  EXPECT_FALSE(parse_challenge(""));
  EXPECT_FALSE(parse_challenge("Negotiate"));
  EXPECT_FALSE(parse_challenge(",,,=\"\""));
}

TEST(Token, TokenOrAccessTokenAndExpiry) {
  auto now = std::chrono::steady_clock::now();
  Token t = parse_token(R"({"token":"abc","expires_in":300})", "r", now);
  EXPECT_EQ(t.value, "abc");
  EXPECT_EQ(t.expires, now + std::chrono::seconds(300));
  t = parse_token(R"({"access_token":"xyz"})", "r", now);
  EXPECT_EQ(t.value, "xyz");
  EXPECT_EQ(t.expires, now + std::chrono::seconds(60));  // the spec's default
}

TEST(Token, StaleBeforeItExpires) {
  auto now = std::chrono::steady_clock::now();
  Token t = parse_token(R"({"token":"a","expires_in":300})", "r", now);
  EXPECT_FALSE(t.stale(now + std::chrono::seconds(294)));
  EXPECT_TRUE(t.stale(now + std::chrono::seconds(295)));
  Token s = parse_token(R"({"token":"a","expires_in":4})", "r", now);  // short: half its life
  EXPECT_FALSE(s.stale(now + std::chrono::seconds(1)));
  EXPECT_TRUE(s.stale(now + std::chrono::seconds(2)));
}

TEST(Token, MissingTokenNeverQuotesTheBody) {
  try {
    parse_token(R"({"secret":"hunter2"})", "registry.example.org", {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "registry.example.org: the token service's answer holds no token");
  }
  EXPECT_THROW(parse_token("<html>", "r", {}), Error);
}

TEST(RetryAfter, SecondsDatesAndCap) {
  using std::chrono::seconds;
  EXPECT_EQ(parse_retry_after("3", seconds(60)), seconds(3));
  EXPECT_EQ(parse_retry_after(" 120 ", seconds(60)), seconds(60));
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", seconds(60)), seconds(0));  // in the past
  EXPECT_FALSE(parse_retry_after("", seconds(60)));
  EXPECT_FALSE(parse_retry_after("soon", seconds(60)));
}

TEST(RegistryError, CodeAndMessage) {
  EXPECT_EQ(registry_error_text(R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]})"),
            "MANIFEST_UNKNOWN: manifest unknown");
  EXPECT_EQ(registry_error_text(R"({"errors":[{"code":7}]})"), "");
  EXPECT_EQ(registry_error_text("not json"), "");
}

TEST(Http, Base64AndEscape) {
  EXPECT_EQ(base64_encode("user:pass"), "dXNlcjpwYXNz");
  EXPECT_EQ(base64_encode("a"), "YQ==");
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(url_escape("repository:a/b:pull,push"), "repository%3Aa%2Fb%3Apull%2Cpush");
}

}  // namespace
}  // namespace ferry::registry
