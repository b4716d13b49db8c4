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
      {"store = 1\n", "f.toml:1:9: 'store' must be a table"},
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
