#include "ferry/hpc/gpu.hpp"

#include <gtest/gtest.h>

#include <cstring>

#include "ferry/core/error.hpp"
#include "ld_cache.hpp"

namespace ferry::hpc {

TEST(Gpus, Selection) {
  auto s = parse_gpus("2,0,2", {});
  EXPECT_FALSE(s.all);
  EXPECT_EQ(s.indices, (std::vector<int>{0, 2}));
  EXPECT_TRUE(parse_gpus("all", {}).all);
  EXPECT_TRUE(parse_gpus("all", {"CUDA_VISIBLE_DEVICES=all"}).all);
  EXPECT_EQ(parse_gpus("all", {"CUDA_VISIBLE_DEVICES=1,3"}).indices, (std::vector<int>{1, 3}));
  EXPECT_EQ(parse_gpus("all", {"NVIDIA_VISIBLE_DEVICES=2"}).indices, (std::vector<int>{2}));
  EXPECT_EQ(parse_gpus("all", {"CUDA_VISIBLE_DEVICES=GPU-abc"}).ids, (std::vector<std::string>{"GPU-abc"}));
  EXPECT_EQ(parse_gpus("1", {"CUDA_VISIBLE_DEVICES=3"}).indices, (std::vector<int>{1}));
  for (const char* bad : {"", "x", "1,", "-1", "0,GPU-a", "all,0"}) EXPECT_THROW(parse_gpus(bad, {}), Error) << bad;
  EXPECT_THROW(parse_gpus("all", {"CUDA_VISIBLE_DEVICES=NoDevFiles"}), Error);
}

TEST(Gpus, CudaRenumbersWhatItSees) {
  EXPECT_EQ(cuda_visible_devices({1}, {1}), "0");
  EXPECT_EQ(cuda_visible_devices({0, 1, 2, 3}, {1, 3}), "1,3");
  EXPECT_EQ(cuda_visible_devices({2, 3}, {3}), "1");
}

TEST(Gpus, DriverLibraryNames) {
  EXPECT_TRUE(is_driver_library("libcuda.so.1"));
  EXPECT_TRUE(is_driver_library("libnvidia-ml.so.1"));
  EXPECT_TRUE(is_driver_library("libnvidia-ptxjitcompiler.so.1"));
  EXPECT_FALSE(is_driver_library("libcudart.so.12"));
  EXPECT_FALSE(is_driver_library("libcuda.so"));
  EXPECT_FALSE(is_driver_library("libGL.so.1"));
}

namespace {

// A cache in glibc's new format, as ldconfig writes it, built by hand.
std::string make_cache(const std::vector<std::pair<std::string, std::string>>& libs, int32_t flags) {
  std::string head(48, '\0');
  std::memcpy(head.data(), "glibc-ld.so.cache1.1", 20);
  uint32_t n = static_cast<uint32_t>(libs.size());
  std::memcpy(head.data() + 20, &n, 4);
  std::string entries(24 * libs.size(), '\0');
  std::string strings;
  size_t base = head.size() + entries.size();
  for (size_t i = 0; i < libs.size(); ++i) {
    uint32_t key = static_cast<uint32_t>(base + strings.size());
    strings += libs[i].first + '\0';
    uint32_t value = static_cast<uint32_t>(base + strings.size());
    strings += libs[i].second + '\0';
    std::memcpy(entries.data() + 24 * i, &flags, 4);
    std::memcpy(entries.data() + 24 * i + 4, &key, 4);
    std::memcpy(entries.data() + 24 * i + 8, &value, 4);
  }
  return head + entries + strings;
}

}  // namespace

TEST(Gpus, LoaderCache) {
  int32_t native = 0x0003 | (kNativeRequired >= 0 ? kNativeRequired : 0);  // FLAG_ELF_LIBC6 | this ABI
  auto entries = parse_loader_cache(make_cache({{"libcuda.so.1", "/usr/lib/libcuda.so.1"}, {"libm.so.6", "/lib/libm.so.6"}}, native));
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].soname, "libcuda.so.1");
  EXPECT_EQ((*entries)[0].path, "/usr/lib/libcuda.so.1");
  // Another ABI's entry (i386 in an x86_64 cache: no LIB64 flag) is not ours.
  EXPECT_EQ(parse_loader_cache(make_cache({{"libcuda.so.1", "/usr/lib32/libcuda.so.1"}}, 0x0003))->size(),
            native == 0x0003 ? 1u : 0u);
  std::string cut = make_cache({{"libcuda.so.1", "/x"}}, native);
  EXPECT_FALSE(parse_loader_cache(cut.substr(0, 60)));
}

}  // namespace ferry::hpc
