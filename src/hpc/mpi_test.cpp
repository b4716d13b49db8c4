#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>

#include "elf.hpp"
#include "ferry/core/config.hpp"
#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/hpc/mpi.hpp"
#include "ld_cache.hpp"
#include "mpi_host.hpp"
#include "mpi_image.hpp"

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
