#include "ferry/image/image.hpp"

#include <gtest/gtest.h>

#include "ferry/core/error.hpp"

namespace ferry::image {

TEST(Config, ParsesTheFieldsFerryApplies) {
  auto c = parse_config(R"({"architecture":"amd64","os":"linux","config":{
      "Env":["PATH=/bin","A=1"],"Entrypoint":["/ep"],"Cmd":null,"WorkingDir":"/w",
      "User":"1000","Labels":{"k":"v"}}})",
                        "cfg");
  EXPECT_EQ(c.architecture, "amd64");
  EXPECT_EQ(c.env, (std::vector<std::string>{"PATH=/bin", "A=1"}));
  ASSERT_TRUE(c.entrypoint);
  EXPECT_EQ(*c.entrypoint, std::vector<std::string>{"/ep"});
  EXPECT_FALSE(c.cmd);
  EXPECT_EQ(c.working_dir, "/w");
  EXPECT_EQ(c.user, "1000");
  EXPECT_EQ(c.labels.at("k"), "v");
}

TEST(Config, MalformedInputNamesTheDocument) {
  for (const char* bad : {"{", "[]", R"({"config":{"Env":"x"}})", R"({"config":{"Cmd":[1]}})",
                          R"({"config":{"WorkingDir":5}})"}) {
    try {
      parse_config(bad, "my.json");
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("my.json: ", 0), 0u) << e.what();
    }
  }
}

TEST(Resolve, MissingImageIsOneClearLine) {
  try {
    resolve("/nonexistent/image");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "no such image (not a directory or SquashFS file)");
  }
}

TEST(Resolve, PlainFileIsNotAnImage) {
  EXPECT_THROW(resolve("/etc/hostname"), Error);
}

}  // namespace ferry::image
