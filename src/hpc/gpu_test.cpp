#include "ferry/hpc/gpu.hpp"

#include <gtest/gtest.h>

#include <cstring>

#include "ferry/core/error.hpp"
#include "ld_cache.hpp"
#include "ld_cache_fixture.hpp"

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

using testing::make_ld_cache;

TEST(Gpus, LoaderCache) {
  int32_t native = 0x0003 | (kNativeRequired >= 0 ? kNativeRequired : 0);  // FLAG_ELF_LIBC6 | this ABI
  auto entries = parse_loader_cache(
      make_ld_cache({{"libcuda.so.1", "/usr/lib/libcuda.so.1"}, {"libm.so.6", "/lib/libm.so.6"}}, native));
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].soname, "libcuda.so.1");
  EXPECT_EQ((*entries)[0].path, "/usr/lib/libcuda.so.1");
  // Another ABI's entry (i386 in an x86_64 cache: no LIB64 flag) is not ours.
  EXPECT_EQ(parse_loader_cache(make_ld_cache({{"libcuda.so.1", "/usr/lib32/libcuda.so.1"}}, 0x0003))->size(),
            native == 0x0003 ? 1u : 0u);
  std::string cut = make_ld_cache({{"libcuda.so.1", "/x"}}, native);
  EXPECT_FALSE(parse_loader_cache(cut.substr(0, 60)));
}

}  // namespace ferry::hpc
