#include "ferry/registry/credentials.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/core/log.hpp"
#include "test_temp_dir.hpp"

namespace ferry::registry {
namespace fs = std::filesystem;
using nlohmann::json;

// Every variable the lookup reads; each test starts with them unset but HOME.
constexpr const char* kVars[] = {"HOME",          "XDG_CONFIG_HOME",     "FERRY_AUTH_FILE",
                                 "DOCKER_CONFIG", "FERRY_REGISTRY_USER", "FERRY_REGISTRY_PASSWORD"};

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* v : kVars) {
      const char* old = std::getenv(v);
      saved_.emplace_back(v, old ? std::optional<std::string>(old) : std::nullopt);
      unsetenv(v);
    }
    setenv("HOME", (dir_ + "/home").c_str(), 1);
  }
  void TearDown() override {
    for (const auto& [name, value] : saved_) value ? setenv(name, value->c_str(), 1) : unsetenv(name);
    log::set_debug(false);
  }

  static void write(const std::string& path, const std::string& text) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path) << text;
  }
  std::string ferry_file() const { return dir_ + "/home/.config/ferry/auth.json"; }
  std::string docker_file() const { return dir_ + "/home/.docker/config.json"; }
  static std::string auths(const std::string& key, const std::string& entry) {
    return R"({"auths": {")" + key + R"(": )" + entry + "}}";
  }

  test::TempDir tmp_{"creds"};
  std::string dir_ = tmp_.path();
  std::vector<std::pair<const char*, std::optional<std::string>>> saved_;
};

namespace {

void expect_creds(const std::optional<Credentials>& c, const std::string& user, const std::string& pass) {
  ASSERT_TRUE(c);
  EXPECT_EQ(c->user, user);
  EXPECT_EQ(c->password, pass);
}

}  // namespace

TEST(ParseCreds, SplitsAtTheFirstColon) {
  Credentials c = parse_creds("alice:pa:ss");
  EXPECT_EQ(c.user, "alice");
  EXPECT_EQ(c.password, "pa:ss");
  EXPECT_EQ(parse_creds("bob:").password, "");
}

TEST(ParseCreds, ErrorsNeverRepeatTheInput) {
  struct Case {
    const char* input;
    const char* message;
  } cases[] = {
      {"s3cret-token", "credentials must be USER:PASSWORD (no ':' found)"},
      {"", "credentials must be USER:PASSWORD (no ':' found)"},
      {":s3cret-token", "credentials must be USER:PASSWORD (the user name is empty)"},
  };
  for (const auto& c : cases) {
    try {
      parse_creds(c.input);
      ADD_FAILURE() << c.input;
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(), c.message);
    }
  }
}

TEST_F(CredentialsTest, AuthFileLocation) {
  EXPECT_EQ(auth_file(), ferry_file());
  setenv("XDG_CONFIG_HOME", "/x/config", 1);
  EXPECT_EQ(auth_file(), "/x/config/ferry/auth.json");
  setenv("FERRY_AUTH_FILE", "/x/auth.json", 1);
  EXPECT_EQ(auth_file(), "/x/auth.json");
  unsetenv("FERRY_AUTH_FILE");
  unsetenv("XDG_CONFIG_HOME");
  unsetenv("HOME");
  EXPECT_EQ(auth_file(), "");
  EXPECT_THROW(save_credentials("docker.io", {"u", "p"}), Error);
}

TEST_F(CredentialsTest, OrderOfPrecedence) {
  EXPECT_FALSE(find_credentials("docker.io"));  // no file at all: anonymous
  write(docker_file(), auths("https://index.docker.io/v1/", R"({"auth": "ZDpkb2NrZXI="})"));  // d:docker
  expect_creds(find_credentials("docker.io"), "d", "docker");
  save_credentials("docker.io", {"f", "ferry"});
  expect_creds(find_credentials("docker.io"), "f", "ferry");
  EXPECT_FALSE(find_credentials("ghcr.io"));
  setenv("FERRY_REGISTRY_USER", "e", 1);
  setenv("FERRY_REGISTRY_PASSWORD", "env", 1);
  expect_creds(find_credentials("docker.io"), "e", "env");
  expect_creds(find_credentials("ghcr.io"), "e", "env");  // any registry
  expect_creds(find_credentials("docker.io", Credentials{"x", "explicit"}), "x", "explicit");
  // Later sources are not read once one answers: a broken Docker file is no error.
  write(docker_file(), "{");
  expect_creds(find_credentials("docker.io"), "e", "env");
}

TEST_F(CredentialsTest, HalfAnEnvironmentPairIsAnError) {
  setenv("FERRY_REGISTRY_PASSWORD", "s3cret", 1);
  try {
    find_credentials("docker.io");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "FERRY_REGISTRY_PASSWORD is set but FERRY_REGISTRY_USER is not");
  }
  unsetenv("FERRY_REGISTRY_PASSWORD");
  setenv("FERRY_REGISTRY_USER", "u", 1);
  try {
    find_credentials("docker.io");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "FERRY_REGISTRY_USER is set but FERRY_REGISTRY_PASSWORD is not");
  }
  setenv("FERRY_REGISTRY_PASSWORD", "", 1);  // an empty password is a password
  expect_creds(find_credentials("docker.io"), "u", "");
}

TEST_F(CredentialsTest, DockerConfigKeyForms) {
  struct Case {
    const char* key;
    const char* registry;
    bool found;
  } cases[] = {
      {"https://index.docker.io/v1/", "docker.io", true},
      {"index.docker.io", "docker.io", true},
      {"registry-1.docker.io", "docker.io", true},
      {"docker.io", "docker.io", true},
      {"https://127.0.0.1:5000/v2/", "127.0.0.1:5000", true},
      {"http://127.0.0.1:5000", "127.0.0.1:5000", true},
      {"127.0.0.1:5000", "127.0.0.1:5000", true},
      {"GHCR.io", "ghcr.io", true},
      {"127.0.0.1:5000", "127.0.0.1:5001", false},
      {"127.0.0.1:5000", "127.0.0.1", false},
      {"https://index.docker.io/v1/", "ghcr.io", false},
      {"ghcr.io", "docker.io", false},
  };
  setenv("DOCKER_CONFIG", (dir_ + "/docker").c_str(), 1);  // instead of ~/.docker
  for (const auto& c : cases) {
    write(dir_ + "/docker/config.json", auths(c.key, R"({"auth": "dTpw"})"));  // u:p
    auto found = find_credentials(c.registry);
    EXPECT_EQ(found.has_value(), c.found) << c.key << " for " << c.registry;
    if (found) expect_creds(found, "u", "p");
  }
}

TEST_F(CredentialsTest, TheBareDomainEntryWins) {
  write(docker_file(), R"({"auths": {"https://index.docker.io/v1/": {"auth": "dXJsOnA="},
                                     "docker.io": {"auth": "YmFyZTpw"}}})");
  expect_creds(find_credentials("docker.io"), "bare", "p");
  // An entry with nothing usable gives way to another form of the name.
  write(docker_file(), R"({"auths": {"https://index.docker.io/v1/": {"auth": "dXJsOnA="},
                                     "docker.io": {}}})");
  expect_creds(find_credentials("docker.io"), "url", "p");
}

TEST_F(CredentialsTest, EntryFormats) {
  write(docker_file(), R"({"auths": {
      "a.example.org": {"username": "alice", "password": "pw"},
      "b.example.org": {"auth": "Ym9iOnA6dzo="},
      "c.example.org": {"auth": "Yzpw"},
      "d.example.org": {"auth": "", "username": "dan", "password": "pw"}}})");
  expect_creds(find_credentials("a.example.org"), "alice", "pw");
  expect_creds(find_credentials("b.example.org"), "bob", "p:w:");  // split at the first ':'
  expect_creds(find_credentials("c.example.org"), "c", "p");       // unpadded base64
  expect_creds(find_credentials("d.example.org"), "dan", "pw");
}

TEST_F(CredentialsTest, CredentialHelpersAreIgnored) {
  write(docker_file(),
        R"({"auths": {"docker.io": {}, "ghcr.io": {"identitytoken": "idtok-s3cret", "auth": "PHRva2VuPjo="}},
                          "credsStore": "desktop", "credHelpers": {"quay.io": "quay"}})");
  log::set_debug(true);
  testing::internal::CaptureStderr();
  EXPECT_FALSE(find_credentials("docker.io"));
  EXPECT_FALSE(find_credentials("ghcr.io"));
  EXPECT_FALSE(find_credentials("quay.io"));
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("credential helpers are not supported"), std::string::npos) << err;
  EXPECT_EQ(err.find("s3cret"), std::string::npos) << err;
}

TEST_F(CredentialsTest, SaveWritesAPrivateFile) {
  save_credentials("docker.io", {"user", "pass"});
  struct stat st {};
  ASSERT_EQ(stat(ferry_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(stat((dir_ + "/home/.config/ferry").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  json j = json::parse(read_file(ferry_file()));
  EXPECT_EQ(j, json::parse(R"({"auths": {"docker.io": {"auth": "dXNlcjpwYXNz"}}})"));
  expect_creds(find_credentials("docker.io"), "user", "pass");
  // An existing directory is left as it is; the file is 0600 however it was.
  chmod(ferry_file().c_str(), 0644);
  save_credentials("ghcr.io", {"u", "p"});
  ASSERT_EQ(stat(ferry_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(CredentialsTest, SaveKeepsOtherEntries) {
  write(ferry_file(), R"({"auths": {"ghcr.io": {"auth": "Zzpo"},
                                     "https://index.docker.io/v1/": {"auth": "b2xkOnA="}},
                          "credHelpers": {"quay.io": "quay"}})");
  save_credentials("index.docker.io", {"new", "pw"});  // an alias: stored as docker.io
  json j = json::parse(read_file(ferry_file()));
  EXPECT_EQ(j["auths"].size(), 2u);
  EXPECT_EQ(j["auths"]["ghcr.io"]["auth"], "Zzpo");
  EXPECT_TRUE(j["auths"].contains("docker.io"));
  EXPECT_EQ(j["credHelpers"]["quay.io"], "quay");
  expect_creds(find_credentials("docker.io"), "new", "pw");
  expect_creds(find_credentials("ghcr.io"), "g", "h");
}

TEST_F(CredentialsTest, PasswordsOfEveryLengthRoundTrip) {
  for (std::string pw : {"", "a", "ab", "abc", "abcd", "p:\xc3\xa9\xff\x01 \"}\\"}) {
    save_credentials("127.0.0.1:5000", {"u", pw});
    expect_creds(find_credentials("127.0.0.1:5000"), "u", pw);
  }
}

TEST_F(CredentialsTest, SaveRejectsBadUserNames) {
  EXPECT_THROW(save_credentials("docker.io", {"", "s3cret"}), Error);
  try {
    save_credentials("docker.io", {"a:b", "s3cret"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "login docker.io: the user name must be non-empty and hold no ':'");
  }
  EXPECT_FALSE(fs::exists(ferry_file()));
}

TEST_F(CredentialsTest, Remove) {
  EXPECT_FALSE(remove_credentials("docker.io"));  // no file
  write(ferry_file(), R"({"auths": {"ghcr.io": {"auth": "Zzpo"}, "docker.io": {"auth": "YTpi"},
                                     "https://index.docker.io/v1/": {"auth": "YTpi"}}})");
  EXPECT_TRUE(remove_credentials("docker.io"));
  EXPECT_FALSE(remove_credentials("docker.io"));
  EXPECT_FALSE(find_credentials("docker.io"));
  json j = json::parse(read_file(ferry_file()));
  EXPECT_EQ(j, json::parse(R"({"auths": {"ghcr.io": {"auth": "Zzpo"}}})"));
  struct stat st {};
  ASSERT_EQ(stat(ferry_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(CredentialsTest, MalformedFilesNameTheFileNotTheSecret) {
  // The exact text is checked: it holds the path and the fault, never the
  // "secret" or its base64 ("c2Vj...") from the file.
  struct Case {
    const char* text;
    const char* why;
    bool whole_file;  // a fault of the file, not of one registry's entry
  } cases[] = {
      {R"({"auths": {"docker.io": {"auth": "c2VjcmV0OnNlY3JldA==")", "not valid JSON", true},
      {R"({"auths": {"docker.io": {"auth": "secret!secret"}}})", "entry 'docker.io': 'auth' is not base64",
       false},
      {R"({"auths": {"docker.io": {"auth": "c2VjcmV0c2VjcmV0"}}})",
       "entry 'docker.io': 'auth' is not base64 of USER:PASSWORD", false},
      {R"({"auths": {"docker.io": {"auth": 42}}})", "entry 'docker.io': 'auth' is not a string", false},
      {R"({"auths": {"docker.io": {"password": "secret"}}})",
       "entry 'docker.io': 'username' and 'password' must both be strings, the user name not empty", false},
      {R"({"auths": {"docker.io": "secret"}})", "entry 'docker.io' is not an object", true},
      {R"({"auths": "secret"})", "'auths' is not an object", true},
      {R"(["secret"])", "not a JSON object", true},
  };
  for (const auto& c : cases) {
    for (const std::string& path : {ferry_file(), docker_file()}) {
      fs::remove(ferry_file());
      write(path, c.text);
      try {
        find_credentials("docker.io");
        ADD_FAILURE() << c.text;
      } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), path + ": malformed credentials file: " + c.why);
      }
    }
    // save and remove refuse to rewrite a file they cannot read; an entry
    // they do not touch is kept as it is.
    write(ferry_file(), c.text);
    if (c.whole_file) {
      EXPECT_THROW(save_credentials("ghcr.io", {"u", "p"}), Error) << c.text;
      EXPECT_THROW(remove_credentials("ghcr.io"), Error) << c.text;
      EXPECT_EQ(read_file(ferry_file()), c.text);
    } else {
      save_credentials("ghcr.io", {"u", "p"});
      EXPECT_EQ(json::parse(read_file(ferry_file()))["auths"]["docker.io"],
                json::parse(c.text)["auths"]["docker.io"]);
    }
  }
}

TEST_F(CredentialsTest, NothingLogsASecret) {
  log::set_debug(true);
  testing::internal::CaptureStderr();
  save_credentials("docker.io", {"user", "hunter2"});
  expect_creds(find_credentials("docker.io"), "user", "hunter2");
  write(docker_file(), auths("ghcr.io", R"({"auth": "dXNlcjpodW50ZXIy"})"));
  expect_creds(find_credentials("ghcr.io"), "user", "hunter2");
  EXPECT_TRUE(remove_credentials("docker.io"));
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("credentials for ghcr.io from " + docker_file()), std::string::npos) << err;
  EXPECT_EQ(err.find("hunter2"), std::string::npos) << err;
  EXPECT_EQ(err.find("dXNlcjpodW50ZXIy"), std::string::npos) << err;
}

}  // namespace ferry::registry
