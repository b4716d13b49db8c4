#include "ferry/runtime/defaults.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>

#include "ferry/core/error.hpp"
#include "test_temp_dir.hpp"

namespace ferry::runtime {
namespace {

RunRequest request_with_image_env(std::vector<std::string> env) {
  RunRequest r;
  r.image.name = "img";
  r.image.config.env = std::move(env);
  return r;
}

}  // namespace

TEST(Volume, SourceOnlyMeansSameDestination) {
  Mount m = parse_volume("/data");
  EXPECT_EQ(m.source, "/data");
  EXPECT_EQ(m.destination, "/data");
  EXPECT_FALSE(m.read_only);
}

TEST(Volume, ReadOnlyAndNormalisedDestination) {
  Mount m = parse_volume("/a:/b//c/:ro");
  EXPECT_EQ(m.destination, "/b/c");
  EXPECT_TRUE(m.read_only);
}

TEST(Volume, MalformedSpecsAreRejectedWithTheSpecNamed) {
  for (const char* bad : {"", ":", "/a:", "/a::ro", "/a:/b:xx", "/a:b", "/a:/b/../c", "/a:/b:ro:x"}) {
    try {
      parse_volume(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("volume '"), std::string::npos) << e.what();
    }
  }
}

TEST(Env, ImageOverridesHostAndFlagsOverrideImage) {
  RunRequest r = request_with_image_env({"A=image", "PATH=/img/bin"});
  r.env = {"B=flag", "A=flag"};
  auto env = compose_env({"A=host", "B=host", "C=host", "PATH=/host/bin"}, r);
  EXPECT_EQ(env, (std::vector<std::string>{"A=flag", "B=flag", "C=host", "PATH=/img/bin"}));
}

TEST(Env, CleanEnvKeepsOnlyImageAndFlags) {
  RunRequest r = request_with_image_env({"A=image"});
  r.clean_env = true;
  r.env = {"C"};  // bare name: value from the host
  auto env = compose_env({"B=host", "C=hostc"}, r);
  EXPECT_EQ(env, (std::vector<std::string>{"A=image",
                                           "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                           "C=hostc"}));
}

TEST(Env, EnvFileSitsBetweenImageAndFlags) {
  char path[] = "/tmp/ferry-envfile-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << "# comment\n\nA=file\nexport B=file\nH\n";
  RunRequest r = request_with_image_env({"A=image", "B=image"});
  r.env_files = {path};
  r.env = {"B=flag"};
  auto env = compose_env({"H=hostval", "PATH=/p"}, r);
  std::remove(path);
  EXPECT_EQ(env, (std::vector<std::string>{"H=hostval", "PATH=/p", "A=file", "B=flag"}));
}

TEST(Env, InvalidNameIsAnError) {
  RunRequest r = request_with_image_env({});
  r.env = {"=x"};
  EXPECT_THROW(compose_env({}, r), Error);
}

TEST(Args, DockerRules) {
  RunRequest r;
  r.image.name = "img";
  r.image.config.entrypoint = std::vector<std::string>{"/ep", "-x"};
  r.image.config.cmd = std::vector<std::string>{"default"};
  EXPECT_EQ(compose_args(r), (std::vector<std::string>{"/ep", "-x", "default"}));
  r.command = {"mine"};
  EXPECT_EQ(compose_args(r), (std::vector<std::string>{"/ep", "-x", "mine"}));
  r.ignore_entrypoint = true;
  EXPECT_EQ(compose_args(r), (std::vector<std::string>{"mine"}));
  r.command.clear();
  EXPECT_THROW(compose_args(r), Error);
}

TEST(Mounts, ParentsFirstAndLaterDuplicatesWin) {
  Mount a, b, c, d;
  a.destination = "/a/b/c";
  b.destination = "/a";
  c.destination = "/x";
  c.source = "first";
  d.destination = "/x";
  d.source = "second";
  auto out = order_mounts({a, b, c, d});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].destination, "/a");
  EXPECT_EQ(out[1].destination, "/x");
  EXPECT_EQ(out[1].source, "second");
  EXPECT_EQ(out[2].destination, "/a/b/c");
}

}  // namespace ferry::runtime

namespace ferry::runtime {

TEST(Edits, EnvSitsBetweenImageAndFlagsAndUserVolumesWin) {
  RunRequest r = request_with_image_env({"A=image", "B=image"});
  r.command = {"/bin/true"};
  ContainerEdits gpu;
  gpu.env = {"B=device", "C=device"};
  gpu.mounts.push_back(Mount{Mount::Kind::Bind, "/dev/null", "/dev/gpu0", "", false, false, false, true});
  gpu.mounts.push_back(Mount{Mount::Kind::Bind, "/etc", "/opt/lib", "", true});
  gpu.hooks.push_back(Hook{Hook::When::CreateContainer, "/bin/true", {}, {}, 0});
  r.edits.push_back(gpu);
  r.env = {"C=flag"};
  r.volumes.push_back(parse_volume("/var:/opt/lib"));
  ContainerSpec spec = build_spec(r);
  auto has = [&](const std::string& e) {
    return std::find(spec.process.env.begin(), spec.process.env.end(), e) != spec.process.env.end();
  };
  EXPECT_TRUE(has("A=image"));
  EXPECT_TRUE(has("B=device"));
  EXPECT_TRUE(has("C=flag"));
  ASSERT_EQ(spec.hooks.size(), 1u);
  int gpu_mounts = 0;
  for (const auto& m : spec.mounts) {
    if (m.destination == "/dev/gpu0") {
      ++gpu_mounts;
      EXPECT_TRUE(m.device);
    }
    if (m.destination == "/opt/lib") {
      EXPECT_EQ(m.source, "/var");
    }
  }
  EXPECT_EQ(gpu_mounts, 1);
}

TEST(Edits, LibraryDirectoriesGoFirstLaterEditAheadAndFlagsReplace) {
  RunRequest r = request_with_image_env({"LD_LIBRARY_PATH=/img/lib"});
  ContainerEdits mpi, gpu, none;
  mpi.library_path = {"/.ferry/mpi/lib"};
  gpu.library_path = {"/.ferry/nvidia/lib"};
  r.edits = {mpi, none, gpu};
  auto env = compose_env({"LD_LIBRARY_PATH=/host"}, r);
  EXPECT_EQ(env_get(env, "LD_LIBRARY_PATH"), "/.ferry/nvidia/lib:/.ferry/mpi/lib:/img/lib");
  r.image.config.env.clear();
  EXPECT_EQ(env_get(compose_env({"LD_LIBRARY_PATH=/host"}, r), "LD_LIBRARY_PATH"),
            "/.ferry/nvidia/lib:/.ferry/mpi/lib:/host");
  EXPECT_EQ(env_get(compose_env({}, r), "LD_LIBRARY_PATH"), "/.ferry/nvidia/lib:/.ferry/mpi/lib");
  r.env = {"LD_LIBRARY_PATH=/mine"};
  EXPECT_EQ(env_get(compose_env({"LD_LIBRARY_PATH=/host"}, r), "LD_LIBRARY_PATH"), "/mine");
}

TEST(Edits, PathDirectoriesGoFirstAndFlagsReplace) {
  RunRequest r = request_with_image_env({"PATH=/usr/bin:/bin"});
  ContainerEdits relay;
  relay.path = {"/.ferry/bin"};
  r.edits = {relay};
  EXPECT_EQ(env_get(compose_env({"PATH=/host/bin"}, r), "PATH"), "/.ferry/bin:/usr/bin:/bin");
  r.image.config.env.clear();
  EXPECT_EQ(env_get(compose_env({}, r), "PATH"), "/.ferry/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  r.env = {"PATH=/mine"};
  EXPECT_EQ(env_get(compose_env({}, r), "PATH"), "/mine");
}

// The defaults every container of the user gets are marked standard (a
// mount holder makes their mount points once, in its shared layer); the
// working directory and volumes are each container's own. A working
// directory that is the home is served by the home's bind, which stays
// standard.
TEST(Mounts, StandardAreTheDefaultsNotTheWorkingDirectoryOrVolumes) {
  test::TempDir t("standard");
  std::string home = t.path() + "/home", work = t.path() + "/work";
  ASSERT_EQ(::mkdir(home.c_str(), 0700), 0);
  ASSERT_EQ(::mkdir(work.c_str(), 0700), 0);
  const char* old_home = ::getenv("HOME");
  std::string saved_home = old_home ? old_home : "";
  char old_cwd[4096];
  ASSERT_NE(::getcwd(old_cwd, sizeof old_cwd), nullptr);
  ::setenv("HOME", home.c_str(), 1);
  ASSERT_EQ(::chdir(work.c_str()), 0);
  RunRequest r = request_with_image_env({});
  r.command = {"/bin/true"};
  r.volumes.push_back(parse_volume("/var:/data"));
  auto standard = [](const ContainerSpec& spec, const std::string& dst) -> std::optional<bool> {
    for (const auto& m : spec.mounts)
      if (m.destination == dst) return m.standard;
    return std::nullopt;
  };
  ContainerSpec spec = build_spec(r);
  EXPECT_EQ(standard(spec, home), true);
  EXPECT_EQ(standard(spec, "/tmp"), true);
  EXPECT_EQ(standard(spec, "/etc/hosts"), true);
  EXPECT_EQ(standard(spec, work), false);
  EXPECT_EQ(standard(spec, "/data"), false);
  EXPECT_EQ(::chdir(home.c_str()), 0);
  spec = build_spec(r);
  EXPECT_EQ(standard(spec, home), true);  // not replaced by a working directory's bind
  EXPECT_EQ(::chdir(old_cwd), 0);
  if (old_home) ::setenv("HOME", saved_home.c_str(), 1);
  else ::unsetenv("HOME");
}

}  // namespace ferry::runtime
