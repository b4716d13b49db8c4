#include "ferry/core/config.hpp"

#include <gtest/gtest.h>

#include "ferry/core/error.hpp"

namespace ferry {

TEST(Config, LaterLayersOverrideOnlyWhatTheySet) {
  Config c;
  parse_config_text("[store]\nsite = \"/srv/ferry\"\n[import]\nzstd-level = 5\n", "site.toml", c);
  parse_config_text("[import]\nzstd-level = 9\n", "user.toml", c);
  EXPECT_EQ(c.site_store, "/srv/ferry");
  EXPECT_EQ(c.zstd_level_or_default(), 9);
}

TEST(Config, DefaultsWhenUnset) {
  Config c;
  parse_config_text("", "empty.toml", c);
  EXPECT_FALSE(c.site_store);
  EXPECT_EQ(c.zstd_level_or_default(), 3);
  EXPECT_EQ(c.pull_jobs_or_default(), 4);
  EXPECT_EQ(c.pull_retries_or_default(), 5);
  EXPECT_EQ(c.pull_timeout_or_default(), 30);
  EXPECT_TRUE(c.registries.empty());
  EXPECT_EQ(c.registry("docker.io"), nullptr);
}

TEST(Config, PullSettings) {
  Config c;
  parse_config_text("[pull]\njobs = 8\nretries = 0\ntimeout = 3600\n", "site.toml", c);
  parse_config_text("[pull]\njobs = 2\n", "user.toml", c);
  EXPECT_EQ(c.pull_jobs_or_default(), 2);
  EXPECT_EQ(c.pull_retries_or_default(), 0);
  EXPECT_EQ(c.pull_timeout_or_default(), 3600);
}

TEST(Config, MountsSettings) {
  Config c;
  EXPECT_TRUE(c.mounts_share_or_default());
  EXPECT_EQ(c.mounts_grace_or_default(), 60);
  parse_config_text("[mounts]\nshare = false\ngrace = 0\n", "site.toml", c);
  parse_config_text("[mounts]\ngrace = 300\n", "user.toml", c);
  EXPECT_FALSE(c.mounts_share_or_default());
  EXPECT_EQ(c.mounts_grace_or_default(), 300);
}

TEST(Config, Registries) {
  Config c;
  parse_config_text(R"([registries."docker.io"]
mirrors = ["mirror.example.org", "127.0.0.1:5001"]
[registries."127.0.0.1:5001"]
insecure = true
[registries."registry.example.org"]
ca-file = "/etc/ssl/site-ca.pem"
insecure = false
)",
                    "site.toml", c);
  const RegistryConfig* hub = c.registry("docker.io");
  ASSERT_NE(hub, nullptr);
  EXPECT_EQ(hub->mirrors, (std::vector<std::string>{"mirror.example.org", "127.0.0.1:5001"}));
  EXPECT_FALSE(hub->insecure);
  EXPECT_FALSE(hub->insecure_or_default());
  EXPECT_FALSE(hub->ca_file);
  ASSERT_NE(c.registry("127.0.0.1:5001"), nullptr);
  EXPECT_TRUE(c.registry("127.0.0.1:5001")->insecure_or_default());
  ASSERT_NE(c.registry("registry.example.org"), nullptr);
  EXPECT_EQ(c.registry("registry.example.org")->ca_file, "/etc/ssl/site-ca.pem");
  EXPECT_EQ(c.registry("127.0.0.1:5000"), nullptr);  // exact domains only
  EXPECT_EQ(c.registry("index.docker.io"), nullptr);
}

TEST(Config, UserRegistryEntryMergesOverSite) {
  Config c;
  parse_config_text(R"([registries."docker.io"]
mirrors = ["site-mirror.example.org"]
[registries."registry.example.org"]
ca-file = "/etc/ssl/site-ca.pem"
insecure = false
[registries."[::1]:5000"]
insecure = true
)",
                    "site.toml", c);
  parse_config_text(R"([registries."docker.io"]
insecure = false
[registries."registry.example.org"]
insecure = true
[registries."ghcr.io"]
mirrors = ["my-mirror:5001"]
)",
                    "user.toml", c);
  EXPECT_EQ(c.registries.size(), 4u);
  EXPECT_EQ(c.registry("docker.io")->mirrors, std::vector<std::string>{"site-mirror.example.org"});
  EXPECT_EQ(c.registry("docker.io")->insecure, false);
  EXPECT_EQ(c.registry("registry.example.org")->ca_file, "/etc/ssl/site-ca.pem");
  EXPECT_TRUE(c.registry("registry.example.org")->insecure_or_default());
  EXPECT_TRUE(c.registry("[::1]:5000")->insecure_or_default());
  EXPECT_EQ(c.registry("ghcr.io")->mirrors, std::vector<std::string>{"my-mirror:5001"});
  // A user's empty list clears the site's mirrors.
  parse_config_text("[registries.\"docker.io\"]\nmirrors = []\n", "user2.toml", c);
  EXPECT_TRUE(c.registry("docker.io")->mirrors.empty());
  EXPECT_EQ(c.registry("docker.io")->insecure, false);
}

TEST(Config, StrictWithPositions) {
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {"[store]\nsiet = \"/x\"\n", "f.toml:2:1: unknown key 'siet' in [store]"},
      {"colour = 1\n", "f.toml:1:1: unknown key 'colour'"},
      {"[import]\nzstd-level = 40\n", "f.toml:2:14: import.zstd-level must be an integer from 1 to 22"},
      {"[import]\nzstd-level = \"3\"\n", "f.toml:2:14: import.zstd-level must be an integer from 1 to 22"},
      {"[store]\nsite = \"relative\"\n", "f.toml:2:8: store.site must be an absolute path"},
      {"[store]\nsite = 1\n", "f.toml:2:8: store.site must be an absolute path"},  // not a string
      {"store = 1\n", "f.toml:1:9: 'store' must be a table"},
      {"[pull]\njobs = 0\n", "f.toml:2:8: pull.jobs must be an integer from 1 to 64"},
      {"[pull]\njobs = 65\n", "f.toml:2:8: pull.jobs must be an integer from 1 to 64"},
      {"[pull]\nretries = 21\n", "f.toml:2:11: pull.retries must be an integer from 0 to 20"},
      {"[pull]\nretries = -1\n", "f.toml:2:11: pull.retries must be an integer from 0 to 20"},
      {"[pull]\ntimeout = 0\n", "f.toml:2:11: pull.timeout must be an integer from 1 to 3600"},
      {"[mounts]\ngrace = 86401\n", "f.toml:2:9: mounts.grace must be an integer from 0 to 86400"},
      {"[mounts]\nshare = 1\n", "f.toml:2:9: mounts.share must be true or false"},
      {"[mounts]\nlinger = 1\n", "f.toml:2:1: unknown key 'linger' in [mounts]"},
      {"[pull]\ntimeout = 1.5\n", "f.toml:2:11: pull.timeout must be an integer from 1 to 3600"},
      {"[pull]\nparallel = 4\n", "f.toml:2:1: unknown key 'parallel' in [pull]"},
      {"pull = 4\n", "f.toml:1:8: 'pull' must be a table"},
      {"registries = 1\n", "f.toml:1:14: 'registries' must be a table"},
      {"[registries]\n\"docker.io\" = 1\n", "f.toml:2:15: 'registries.\"docker.io\"' must be a table"},
      {"[registries.\"docker.io\"]\nmirror = [\"m\"]\n",
       "f.toml:2:1: unknown key 'mirror' in [registries.\"docker.io\"]"},
      {"[registries.docker.io]\nmirrors = []\n", "f.toml:1:20: unknown key 'io' in [registries.\"docker\"]"},
      {"[registries.\"https://docker.io\"]\n",
       "f.toml:1:13: registry 'https://docker.io' must be host[:port], without scheme or '/'"},
      {"[registries.\"docker.io\"]\nmirrors = \"m.example.org\"\n",
       "f.toml:2:11: registries.\"docker.io\".mirrors must be an array of host[:port] strings"},
      {"[registries.\"docker.io\"]\nmirrors = [\"ok.org\", \"https://m.example.org\"]\n",
       "f.toml:2:22: registries.\"docker.io\".mirrors must be host[:port] strings, without scheme or '/'"},
      {"[registries.\"docker.io\"]\nmirrors = [\"m.example.org/v2\"]\n",
       "f.toml:2:12: registries.\"docker.io\".mirrors must be host[:port] strings, without scheme or '/'"},
      {"[registries.\"docker.io\"]\nmirrors = [\"m:http\"]\n",
       "f.toml:2:12: registries.\"docker.io\".mirrors must be host[:port] strings, without scheme or '/'"},
      {"[registries.\"docker.io\"]\nmirrors = [5000]\n",
       "f.toml:2:12: registries.\"docker.io\".mirrors must be host[:port] strings, without scheme or '/'"},
      {"[registries.\"h:5000\"]\ninsecure = \"yes\"\n",
       "f.toml:2:12: registries.\"h:5000\".insecure must be true or false"},
      {"[registries.\"h\"]\nca-file = \"ca.pem\"\n",
       "f.toml:2:11: registries.\"h\".ca-file must be an absolute path"},
  };
  for (const auto& c : cases) {
    Config cfg;
    try {
      parse_config_text(c.text, "f.toml", cfg);
      ADD_FAILURE() << c.text;
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(), c.message);
    }
  }
}

TEST(Config, SyntaxErrorsNameThePlace) {
  Config cfg;
  try {
    parse_config_text("[store\n", "f.toml", cfg);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("f.toml:1:", 0), 0u) << e.what();
  }
}

}  // namespace ferry
