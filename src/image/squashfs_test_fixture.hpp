/// Shared by the SquashFS reader and server tests: a tree with every kind of
/// entry the server must get right, packed once per test suite with
/// mksquashfs, and small helpers. Test code only.
#pragma once

#include "ferry/image/squashfs_server.hpp"
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include "ferry/core/error.hpp"
#include "squashfs_reader.hpp"
#include "test_temp_dir.hpp"

namespace ferry::image::sqfs_test {


namespace fs = std::filesystem;

constexpr int kSkip = 77;                               // child's exit status for "cannot mount here"
constexpr size_t kBigSize = (size_t{3} << 20) + 12345;  // full blocks + a fragment tail
constexpr int kManyFiles = 600;                         // a listing larger than one 8 KiB metadata block

// Deterministic bytes that do not compress away (xorshift).
inline std::string pseudo_random(size_t n, uint64_t seed) {
  std::string out(n, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    out[i] = static_cast<char>(x);
  }
  return out;
}

// 128 KiB blocks 2 and 3 are all zeros: mksquashfs stores them as holes.
inline std::string sparse_content() {
  return pseudo_random(200000, 2) + std::string(393216, '\0') + pseudo_random(1000, 3);
}

inline std::string many_name(int i) {
  char name[64];
  std::snprintf(name, sizeof name, "file-with-a-rather-long-name-%04d", i);
  return name;
}

inline void write(const fs::path& p, const std::string& data, mode_t mode = 0644) {
  std::ofstream(p, std::ios::binary) << data;
  ::chmod(p.c_str(), mode);
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string find_program(const std::string& name) {
  std::string path = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
  path += ":/usr/sbin:/sbin";
  std::istringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::string candidate = dir + "/" + name;
    if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

inline bool run(const std::vector<std::string>& argv) {
  pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  return pid > 0 && ::waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

class SquashfsServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string mksquashfs = find_program("mksquashfs");
    if (mksquashfs.empty()) {
      skip_ = "mksquashfs not installed";
      return;
    }
    tmp_ = std::make_unique<test::TempDir>("sqfs");
    dir_ = tmp_->path();
    fs::path tree = dir_ + "/tree";
    make_tree(tree);
    image_ = dir_ + "/image.sqfs";
    if (!run({mksquashfs, tree, image_, "-comp", "zstd", "-noappend", "-quiet", "-no-progress"}))
      skip_ = "mksquashfs failed (no zstd support?)";
  }

  static void TearDownTestSuite() { tmp_.reset(); }

  static void make_tree(const fs::path& t) {
    fs::create_directories(t / "sub/deeper");
    fs::create_directories(t / "many");
    write(t / "small.txt", "hello, ferry\n");
    write(t / "empty.txt", "");
    write(t / "sub/deeper/nested.txt", "nested\n");
    write(t / "big.bin", pseudo_random(kBigSize, 1));
    write(t / "sparse.bin", sparse_content());
    write(t / "exec.sh", "#!/bin/sh\necho hi\n", 0755);
    write(t / "secret", "only me\n", 0600);
    write(t / "hard-a", "linked\n");
    fs::create_hard_link(t / "hard-a", t / "hard-b");
    fs::create_symlink("sub/deeper/nested.txt", t / "link-rel");
    fs::create_symlink("/etc/hostname", t / "link-abs");
    fs::create_symlink("nowhere/missing", t / "dangling");
    for (int i = 0; i < kManyFiles; ++i) write(t / "many" / many_name(i), std::to_string(i) + "\n");
    std::string small = (t / "small.txt").string();
    xattr_ = ::setxattr(small.c_str(), "user.ferry", "hello", 5, 0) == 0 &&
             ::setxattr(small.c_str(), "user.ferry.long", "other", 5, 0) == 0;
  }

  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
  }

  static inline std::string skip_;
  static inline std::unique_ptr<test::TempDir> tmp_;
  static inline std::string dir_;
  static inline std::string image_;
  static inline bool xattr_ = false;
};

// Resolves a relative path inside the image, the way FUSE lookups would.
inline InodeRef resolve(SquashfsReader& r, const std::string& path, struct stat* st = nullptr) {
  InodeRef ref = r.root();
  struct stat s {};
  std::istringstream parts(path);
  for (std::string name; std::getline(parts, name, '/');) {
    int err = r.lookup(ref, name, &ref, &s);
    if (err != 0) throw Error(err, "lookup", path);
  }
  if (st != nullptr) *st = s;
  return ref;
}

inline std::string read_all(SquashfsReader& r, InodeRef ref, size_t chunk) {
  std::string out;
  for (;;) {
    ReadResult res;
    EXPECT_EQ(r.read(ref, out.size(), chunk, &res), 0);
    if (res.size == 0) return out;
    for (const iovec& v : res.iov) out.append(static_cast<const char*>(v.iov_base), v.iov_len);
  }
}

}  // namespace ferry::image::sqfs_test
