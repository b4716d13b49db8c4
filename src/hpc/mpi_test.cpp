#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "elf.hpp"
#include "ferry/core/config.hpp"
#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/core/file_lock.hpp"
#include "ferry/hpc/mpi.hpp"
#include "ld_cache.hpp"
#include "ld_cache_fixture.hpp"
#include "mpi_host.hpp"
#include "mpi_image.hpp"
#include "test_temp_dir.hpp"

namespace ferry::hpc {
namespace {

TEST(LoaderCache, HostCacheNamesLibc) {
  if (::access("/etc/ld.so.cache", R_OK) != 0) GTEST_SKIP() << "no /etc/ld.so.cache";
  auto entries = parse_loader_cache(read_file("/etc/ld.so.cache"));
  ASSERT_TRUE(entries && !entries->empty());
  EXPECT_TRUE(std::any_of(entries->begin(), entries->end(), [](auto& e) { return e.soname == "libc.so.6"; }));
}

TEST(LoaderCache, GarbageIsNotACache) {
  EXPECT_FALSE(parse_loader_cache(""));
  EXPECT_FALSE(parse_loader_cache("not a cache"));
  EXPECT_FALSE(parse_loader_cache("glibc-ld.so.cache1.1"));  // header cut short
  std::string huge(48, '\0');
  huge.replace(0, 20, "glibc-ld.so.cache1.1");
  huge[20] = '\xff';  // nlibs far beyond the data
  EXPECT_FALSE(parse_loader_cache(huge));
}

// A cache of ENTRIES (soname, path) for this machine's ABI.
std::string make_cache(const std::vector<std::pair<std::string, std::string>>& entries) {
  return testing::make_ld_cache(entries, 0x0003 | std::max<int32_t>(kNativeRequired, 0));  // libc6, this ABI
}

// An image's cache is anyone's: a path longer than PATH_MAX is passed over,
// not copied (a few such entries could otherwise hold gigabytes).
TEST(LoaderCache, OverlongPathsArePassedOver) {
  auto entries = parse_loader_cache(make_cache({{"libmpich.so.12", "/opt/mpi/lib/libmpich.so.12"},
                                               {"libhuge.so.1", "/" + std::string(5000, 'x')}}));
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ(entries->front().soname, "libmpich.so.12");
  EXPECT_EQ(entries->front().path, "/opt/mpi/lib/libmpich.so.12");
}

TEST(Elf, VersionOrder) {
  EXPECT_TRUE(version_less("GLIBC_2.2.5", "GLIBC_2.34"));
  EXPECT_TRUE(version_less("GLIBC_2.3", "GLIBC_2.3.4"));
  EXPECT_FALSE(version_less("GLIBC_2.34", "GLIBC_2.34"));
  EXPECT_FALSE(version_less("GLIBC_PRIVATE", "GLIBC_2.34"));
}

TEST(Elf, ReadsLibcVersions) {
  Fd fd(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  auto self = read_elf(fd.get());
  ASSERT_TRUE(self);
  EXPECT_TRUE(std::any_of(self->verneed.begin(), self->verneed.end(),
                          [](auto& v) { return v.first == "libc.so.6" && v.second.rfind("GLIBC_", 0) == 0; }));
  Fd text(::open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC));
  EXPECT_FALSE(read_elf(text.get()));
}

// An image's ELF file is anyone's: a name longer than NAME_MAX reads as
// none, not as a copy of whatever the string table holds.
TEST(Elf, OverlongNamesReadAsNone) {
  test::TempDir tmp("elf");
  std::string src = tmp.path() + "/x.c";
  write_file_atomic(src, "int x(void) { return 1; }\n");
  auto build = [&](const std::string& out, const std::string& soname) {
    std::string cmd = "cc -shared -fPIC -o " + out + " -Wl,-soname," + soname + " " + src + " 2>/dev/null";
    return std::system(cmd.c_str()) == 0;
  };
  if (!build(tmp.path() + "/ok.so", "libok.so.1")) GTEST_SKIP() << "no C compiler";
  ASSERT_TRUE(build(tmp.path() + "/long.so", "lib" + std::string(300, 'x') + ".so.1"));
  Fd ok(::open((tmp.path() + "/ok.so").c_str(), O_RDONLY | O_CLOEXEC));
  auto okelf = read_elf(ok.get());
  ASSERT_TRUE(okelf);
  EXPECT_EQ(okelf->soname, "libok.so.1");
  Fd lng(::open((tmp.path() + "/long.so").c_str(), O_RDONLY | O_CLOEXEC));
  auto longelf = read_elf(lng.get());
  ASSERT_TRUE(longelf);
  EXPECT_EQ(longelf->soname, "");
}

TEST(Mpi, AbiNames) {
  EXPECT_EQ(mpich_abi_names("libmpich.so.12"), (std::vector<std::string>{"libmpich.so.12", "libmpi.so.12"}));
  EXPECT_EQ(mpich_abi_names("libmpi.so.12"), (std::vector<std::string>{"libmpi.so.12", "libmpich.so.12"}));
  EXPECT_EQ(mpich_abi_names("libmpifort.so.12"),
            (std::vector<std::string>{"libmpifort.so.12", "libmpichfort.so.12"}));
  EXPECT_TRUE(is_glibc_library("libc.so.6"));
  EXPECT_TRUE(is_glibc_library("ld-linux-x86-64.so.2"));
  EXPECT_FALSE(is_glibc_library("libcrypto.so.3"));
}

TEST(Mpi, HostClosureOfDebianMpich) {
  const Config none;
  MpiProfile p = mpi_profile(none, "");
  ASSERT_EQ(p.name, "mpich");
  if (::access(p.libraries[0].c_str(), R_OK) != 0) GTEST_SKIP() << "no host MPICH";
  HostMpi host = resolve_host_mpi(p.name, {p.libraries[0]}, p.plugin_dirs);
  const HostObject& mpich = host.objects.at(p.libraries[0]);
  EXPECT_EQ(mpich.elf.soname, "libmpich.so.12");
  bool libc_from_image = false;
  for (const auto& [so, path] : mpich.needed)
    if (so == "libc.so.6") libc_from_image = path.empty();
  EXPECT_TRUE(libc_from_image);
  for (const auto& [path, obj] : host.objects) EXPECT_FALSE(is_glibc_library(obj.elf.soname)) << path;
}

TEST(Mpi, Profiles) {
  Config c;
  parse_config_text("[mpi]\ndefault = \"site\"\n[mpi.site]\nlibraries = [\"/opt/mpi/lib/libmpi.so.12\"]\n"
                    "env = [\"PMI_*\"]\n",
                    "t.toml", c);
  MpiProfile p = mpi_profile(c, "");
  EXPECT_EQ(p.name, "site");
  EXPECT_EQ(p.libraries, std::vector<std::string>{"/opt/mpi/lib/libmpi.so.12"});
  EXPECT_TRUE(p.plugin_dirs.empty());
  EXPECT_EQ(mpi_profile(c, "mpich").name, "mpich");  // the built-in stays reachable
  EXPECT_THROW(mpi_profile(c, "nosuch"), Error);
  Config bad;
  EXPECT_THROW(parse_config_text("[mpi.x]\nlibs = []\n", "t.toml", bad), Error);
  EXPECT_THROW(parse_config_text("[mpi.x]\nlibraries = [\"relative.so\"]\n", "t.toml", bad), Error);
  EXPECT_THROW(parse_config_text("[mpi.x]\nplugin-dirs = [\"lib/ucx\"]\n", "t.toml", bad), Error);
  EXPECT_THROW(parse_config_text("[mpi.x]\ndevices = [\"infiniband\"]\n", "t.toml", bad), Error);
}

}  // namespace
}  // namespace ferry::hpc
