#include "accounts.hpp"

#include <gtest/gtest.h>

namespace ferry::runtime {

TEST(Accounts, ReplacesClashingNamesAndIdsAndAppendsOurs) {
  std::string image = "root:x:0:0:root:/root:/bin/sh\nalice:x:1:1::/:/bin/false\nbob:x:1000:1000::/home/bob:/bin/sh\n";
  auto out = merge_account_file(image, {"alice:x:1000:1000::/home/alice:/bin/bash"});
  EXPECT_EQ(out, "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/bash\n");
}

TEST(Accounts, EmptyImageFile) {
  EXPECT_EQ(merge_account_file("", {"g:x:5:"}), "g:x:5:\n");
}

}  // namespace ferry::runtime
