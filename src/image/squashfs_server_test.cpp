// Tests for the in-process SquashFS server. A tree with every kind of entry
// the server must get right is packed once with mksquashfs. The format half
// (SquashfsReader) is tested directly; then a child process mounts the image
// the way the runtime does (unshare, mount(2) with fd=N, start) and checks
// what a container would see through the kernel.
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
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ferry/core/error.hpp"
#include "squashfs_reader.hpp"

namespace ferry::image {
namespace {

namespace fs = std::filesystem;

constexpr int kSkip = 77;                               // child's exit status for "cannot mount here"
constexpr size_t kBigSize = (size_t{3} << 20) + 12345;  // full blocks + a fragment tail
constexpr int kManyFiles = 600;                         // a listing larger than one 8 KiB metadata block

// Deterministic bytes that do not compress away (xorshift).
std::string pseudo_random(size_t n, uint64_t seed) {
  std::string out(n, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    out[i] = static_cast<char>(x);
  }
  return out;
}

// 128 KiB blocks 2 and 3 are all zeros: mksquashfs stores them as holes.
std::string sparse_content() {
  return pseudo_random(200000, 2) + std::string(393216, '\0') + pseudo_random(1000, 3);
}

std::string many_name(int i) {
  char name[64];
  std::snprintf(name, sizeof name, "file-with-a-rather-long-name-%04d", i);
  return name;
}

void write(const fs::path& p, const std::string& data, mode_t mode = 0644) {
  std::ofstream(p, std::ios::binary) << data;
  ::chmod(p.c_str(), mode);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string find_program(const std::string& name) {
  std::string path = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
  path += ":/usr/sbin:/sbin";
  std::istringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::string candidate = dir + "/" + name;
    if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

bool run(const std::vector<std::string>& argv) {
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
    char tmpl[] = "/tmp/ferry-sqfs-test.XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    fs::path tree = dir_ + "/tree";
    make_tree(tree);
    image_ = dir_ + "/image.sqfs";
    if (!run({mksquashfs, tree, image_, "-comp", "zstd", "-noappend", "-quiet", "-no-progress"}))
      skip_ = "mksquashfs failed (no zstd support?)";
  }

  static void TearDownTestSuite() {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

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
  static inline std::string dir_;
  static inline std::string image_;
  static inline bool xattr_ = false;
};

// Resolves a relative path inside the image, the way FUSE lookups would.
InodeRef resolve(SquashfsReader& r, const std::string& path, struct stat* st = nullptr) {
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

std::string read_all(SquashfsReader& r, InodeRef ref, size_t chunk) {
  std::string out;
  for (;;) {
    ReadResult res;
    EXPECT_EQ(r.read(ref, out.size(), chunk, &res), 0);
    if (res.size == 0) return out;
    for (const iovec& v : res.iov) out.append(static_cast<const char*>(v.iov_base), v.iov_len);
  }
}

TEST_F(SquashfsServerTest, ReaderReadsBlocksFragmentsAndHoles) {
  auto r = SquashfsReader::open(image_);
  // Odd chunk sizes make reads straddle blocks and end inside the fragment.
  EXPECT_EQ(read_all(*r, resolve(*r, "big.bin"), 100000), pseudo_random(kBigSize, 1));
  EXPECT_EQ(read_all(*r, resolve(*r, "big.bin"), 1 << 20), pseudo_random(kBigSize, 1));
  EXPECT_EQ(read_all(*r, resolve(*r, "sparse.bin"), 77777), sparse_content());
  EXPECT_EQ(read_all(*r, resolve(*r, "small.txt"), 4096), "hello, ferry\n");
  EXPECT_EQ(read_all(*r, resolve(*r, "empty.txt"), 4096), "");
  EXPECT_EQ(read_all(*r, resolve(*r, "many/" + many_name(599)), 4096), "599\n");
  ReadResult past_end;
  EXPECT_EQ(r->read(resolve(*r, "big.bin"), kBigSize + 10, 4096, &past_end), 0);
  EXPECT_EQ(past_end.size, 0u);
}

TEST_F(SquashfsServerTest, ReaderLookupAndStat) {
  auto r = SquashfsReader::open(image_);
  struct stat a {
  }, b{}, s{};
  EXPECT_EQ(resolve(*r, "hard-a", &a), resolve(*r, "hard-b", &b));
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_nlink, 2u);
  resolve(*r, "exec.sh", &s);
  EXPECT_EQ(s.st_mode, S_IFREG | 0755);
  resolve(*r, "secret", &s);
  EXPECT_EQ(s.st_mode, S_IFREG | 0600);
  resolve(*r, "big.bin", &s);
  EXPECT_EQ(static_cast<size_t>(s.st_size), kBigSize);
  InodeRef ref = 0;
  EXPECT_EQ(r->lookup(r->root(), "missing", &ref, &s), ENOENT);
  EXPECT_EQ(r->lookup(r->root(), "small.tx", &ref, &s), ENOENT);  // a prefix is no match
  EXPECT_EQ(r->lookup(resolve(*r, "many"), "file-with", &ref, &s), ENOENT);
  EXPECT_EQ(r->lookup(resolve(*r, "small.txt"), "x", &ref, &s), ENOTDIR);
  EXPECT_EQ(r->lookup(r->root(), std::string(300, 'x'), &ref, &s), ENAMETOOLONG);
  std::string target;
  EXPECT_EQ(r->readlink(resolve(*r, "link-rel"), &target), 0);
  EXPECT_EQ(target, "sub/deeper/nested.txt");
  EXPECT_EQ(r->readlink(resolve(*r, "small.txt"), &target), EINVAL);
}

TEST_F(SquashfsServerTest, ReaderReaddirResumesFromCookies) {
  auto r = SquashfsReader::open(image_);
  InodeRef many = resolve(*r, "many");
  std::vector<std::string> names;
  off_t cookie = 0;
  for (bool more = true; more;) {  // stop after 7 entries each time, as a full buffer would
    int taken = 0;
    more = false;
    ASSERT_EQ(r->readdir(many, cookie, false,
                         [&](const DirEntry& e) {
                           if (taken == 7) {
                             more = true;
                             return false;
                           }
                           names.emplace_back(e.name);
                           cookie = e.next;
                           ++taken;
                           return true;
                         }),
              0);
  }
  ASSERT_EQ(names.size(), kManyFiles + 2u);
  EXPECT_EQ(names[0], ".");
  EXPECT_EQ(names[1], "..");
  for (int i = 0; i < kManyFiles; ++i) EXPECT_EQ(names[i + 2], many_name(i));
}

TEST_F(SquashfsServerTest, ReaderReaddirWithAttributes) {
  auto r = SquashfsReader::open(image_);
  struct Seen {
    std::string name;
    InodeRef ref;
    bool has_st;
    struct stat st;
  };
  std::vector<Seen> seen;
  // The callback runs under the reader's lock: collect, then compare.
  ASSERT_EQ(r->readdir(r->root(), 0, true,
                       [&](const DirEntry& e) {
                         Seen one{e.name, e.ref, e.st != nullptr, {}};
                         if (e.st != nullptr) one.st = *e.st;
                         seen.push_back(one);
                         return true;
                       }),
            0);
  ASSERT_EQ(seen.size(), 15u);
  EXPECT_FALSE(seen[0].has_st);  // "."
  EXPECT_FALSE(seen[1].has_st);  // ".."
  for (size_t i = 2; i < seen.size(); ++i) {
    const Seen& e = seen[i];
    struct stat want {};
    EXPECT_EQ(resolve(*r, e.name, &want), e.ref) << e.name;
    EXPECT_TRUE(e.has_st) << e.name;
    EXPECT_EQ(e.st.st_ino, want.st_ino) << e.name;
    EXPECT_EQ(e.st.st_mode, want.st_mode) << e.name;
    EXPECT_EQ(e.st.st_size, want.st_size) << e.name;
  }
}

// Eight threads share one reader, as the FUSE workers do (run under
// -fsanitize=thread to check the locking).
TEST_F(SquashfsServerTest, ReaderIsThreadSafe) {
  auto r = SquashfsReader::open(image_);
  const std::string big = pseudo_random(kBigSize, 1);
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kManyFiles; i += 8) {
        InodeRef ref = 0;
        struct stat st {};
        if (r->lookup(resolve(*r, "many"), many_name(i), &ref, &st) != 0 ||
            read_all(*r, ref, 4096) != std::to_string(i) + "\n")
          ++bad;
        const size_t off = (static_cast<size_t>(i) * 7919 * 13) % kBigSize;
        ReadResult res;
        if (r->read(resolve(*r, "big.bin"), off, 200000, &res) != 0) ++bad;
        std::string got;
        for (const iovec& v : res.iov) got.append(static_cast<const char*>(v.iov_base), v.iov_len);
        if (got != big.substr(off, 200000)) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad, 0);
}

int threads_named(const std::string& comm) {
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc/self/task")) {
    if (slurp((e.path() / "comm").string()) == comm + "\n") ++n;
  }
  return n;
}

// A cold read queues the blocks after it for the read-ahead helpers, and
// reads that straddle two cold blocks hand one to them. Whatever the
// interleaving (a reader takes a queued block itself, waits for one a
// helper has claimed, or finds it cached), the bytes must be the file's;
// and the helpers must not exist before the first read, because the
// runtime unshares a user namespace after open(), which a multi-threaded
// process may not do.
TEST_F(SquashfsServerTest, ReaderReadAheadKeepsBytesAndStartsNoThreadEarly) {
  const std::string big = pseudo_random(kBigSize, 1);
  const std::string sparse = sparse_content();
  for (int round = 0; round < 3; ++round) {
    auto r = SquashfsReader::open(image_);
    EXPECT_EQ(threads_named("ferry-sqfs-ra"), 0);
    const InodeRef big_ref = resolve(*r, "big.bin");
    const InodeRef sparse_ref = resolve(*r, "sparse.bin");
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        // Scattered 4 KiB and 200 KB reads, as page faults and readahead
        // windows make them; every thread visits the same blocks in a
        // different order.
        for (int i = 0; i < 40; ++i) {
          const size_t chunk = (i % 3 == 0) ? 200000 : 4096;
          const size_t off = (static_cast<size_t>(i * 7 + t * 13) * 131071) % kBigSize;
          ReadResult res;
          if (r->read(big_ref, off, chunk, &res) != 0) ++bad;
          std::string got;
          for (const iovec& v : res.iov) got.append(static_cast<const char*>(v.iov_base), v.iov_len);
          if (got != big.substr(off, chunk)) ++bad;
        }
        if (read_all(*r, sparse_ref, 65536) != sparse) ++bad;
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(bad, 0) << "round " << round;
    EXPECT_GE(threads_named("ferry-sqfs-ra"), 1);
    // One more cold read queues jobs; destroying the reader at once must
    // join the helpers cleanly with work still queued.
    auto fresh = SquashfsReader::open(image_);
    ReadResult res;
    EXPECT_EQ(fresh->read(resolve(*fresh, "big.bin"), 0, 4096, &res), 0);
  }
  EXPECT_EQ(threads_named("ferry-sqfs-ra"), 0);
}

TEST_F(SquashfsServerTest, ReaderXattrs) {
  if (!xattr_) GTEST_SKIP() << "no user xattrs on this file system";
  auto r = SquashfsReader::open(image_);
  ASSERT_TRUE(r->has_xattrs());
  InodeRef small = resolve(*r, "small.txt");
  std::string value, names;
  EXPECT_EQ(r->getxattr(small, "user.ferry", &value), 0);
  EXPECT_EQ(value, "hello");
  EXPECT_EQ(r->getxattr(small, "user.ferr", &value), ENODATA);
  EXPECT_EQ(r->getxattr(resolve(*r, "big.bin"), "user.ferry", &value), ENODATA);
  EXPECT_EQ(r->listxattr(small, &names), 0);
  EXPECT_NE(names.find(std::string("user.ferry\0", 11)), std::string::npos);
  EXPECT_NE(names.find(std::string("user.ferry.long\0", 16)), std::string::npos);
}

TEST_F(SquashfsServerTest, OpenRejectsWhatIsNotSquashfs) {
  std::string text = dir_ + "/not-an-image.txt";
  write(text, std::string(4096, 'x'));
  try {
    SquashfsServer::open(text);
    FAIL() << "open() accepted a text file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not a SquashFS"), std::string::npos) << e.what();
  }
  try {
    SquashfsServer::open(dir_ + "/absent.sqfs");
    FAIL() << "open() accepted a missing file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("absent.sqfs"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(is_squashfs_file(text));
  EXPECT_FALSE(is_squashfs_file(dir_ + "/absent.sqfs"));
  EXPECT_TRUE(is_squashfs_file(image_));
}

// ---- the mounted server, in a child process ------------------------------

/// Failures collected in the child and sent to the parent over a pipe.
struct Checks {
  std::string failures;
  void expect(bool ok, const std::string& what) {
    if (!ok) failures += what + "\n";
  }
  void expect_errno(int rc, int err, const std::string& what) {
    int got = errno;
    expect(rc == -1 && got == err, what + ": got rc " + std::to_string(rc) + ", " + std::strerror(got));
  }
};

std::string read_link(const std::string& p) {
  char buf[256];
  ssize_t n = ::readlink(p.c_str(), buf, sizeof buf);
  return n < 0 ? "<error>" : std::string(buf, static_cast<size_t>(n));
}

std::set<std::string> list_dir(const std::string& p) {
  std::set<std::string> names;
  if (DIR* d = ::opendir(p.c_str())) {
    while (dirent* e = ::readdir(d)) names.insert(e->d_name);
    ::closedir(d);
  }
  return names;
}

// The server names its threads; sanitizers may add threads of their own.
int worker_count() {
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc/self/task")) {
    if (slurp((e.path() / "comm").string()) == "ferry-sqfs\n") ++n;
  }
  return n;
}

// As the runtime does it: a user namespace mapping only ourselves (or, as
// real root when that is refused, a mount namespace alone), nothing
// propagating back to the host.
bool enter_namespaces(std::string* why) {
  uid_t uid = ::getuid();
  gid_t gid = ::getgid();
  if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0) {
    std::ofstream("/proc/self/setgroups") << "deny";
    std::ofstream("/proc/self/uid_map") << uid << " " << uid << " 1";
    std::ofstream("/proc/self/gid_map") << gid << " " << gid << " 1";
  } else if (::geteuid() != 0 || ::unshare(CLONE_NEWNS) != 0) {
    *why = std::string("unshare: ") + std::strerror(errno);
    return false;
  }
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    *why = std::string("make / private: ") + std::strerror(errno);
    return false;
  }
  return true;
}

void check_contents(Checks& c, const std::string& m) {
  c.expect(slurp(m + "/small.txt") == "hello, ferry\n", "small.txt content");
  c.expect(slurp(m + "/empty.txt").empty(), "empty.txt content");
  c.expect(slurp(m + "/big.bin") == pseudo_random(kBigSize, 1), "big.bin content");
  c.expect(slurp(m + "/sparse.bin") == sparse_content(), "sparse.bin content");
  c.expect(slurp(m + "/link-rel") == "nested\n", "reading through link-rel");
  c.expect(slurp(m + "/many/" + many_name(123)) == "123\n", "many/123 content");
  struct stat s {};
  c.expect(::stat((m + "/exec.sh").c_str(), &s) == 0 && (s.st_mode & 07777) == 0755, "exec.sh 0755");
  c.expect(::stat((m + "/secret").c_str(), &s) == 0 && (s.st_mode & 07777) == 0600, "secret 0600");
  c.expect(::stat((m + "/sub").c_str(), &s) == 0 && S_ISDIR(s.st_mode), "sub is a directory");
  struct stat a {
  }, b{}, other{};
  ::stat((m + "/hard-a").c_str(), &a);
  ::stat((m + "/hard-b").c_str(), &b);
  ::stat((m + "/small.txt").c_str(), &other);
  c.expect(a.st_ino == b.st_ino && a.st_nlink == 2, "hard links share an inode");
  c.expect(a.st_ino != other.st_ino, "distinct files have distinct inodes");
}

void check_links_and_listing(Checks& c, const std::string& m) {
  c.expect(read_link(m + "/link-rel") == "sub/deeper/nested.txt", "link-rel target");
  c.expect(read_link(m + "/link-abs") == "/etc/hostname", "link-abs target");
  c.expect(read_link(m + "/dangling") == "nowhere/missing", "dangling target");
  struct stat s {};
  c.expect(::lstat((m + "/link-rel").c_str(), &s) == 0 && S_ISLNK(s.st_mode) && s.st_size == 21,
           "lstat link-rel");
  c.expect_errno(::stat((m + "/dangling").c_str(), &s), ENOENT, "stat dangling");
  std::set<std::string> want = {".",       "..",         "small.txt", "empty.txt", "sub",
                                "big.bin", "sparse.bin", "exec.sh",   "secret",    "hard-a",
                                "hard-b",  "link-rel",   "link-abs",  "dangling",  "many"};
  c.expect(list_dir(m) == want, "root listing");
  c.expect(list_dir(m + "/many").size() == kManyFiles + 2u, "many/ listing");
  c.expect(list_dir(m + "/many") == list_dir(m + "/many"), "cached listing");
}

void check_errors(Checks& c, const std::string& m, SquashfsServer& server) {
  struct stat s {};
  for (const char* p : {"/missing", "/sub/missing"}) {
    c.expect_errno(::stat((m + p).c_str(), &s), ENOENT, std::string("stat ") + p);
    usleep(50000);  // let the worker count the first request
    unsigned long before = server.requests_served();
    c.expect_errno(::stat((m + p).c_str(), &s), ENOENT, std::string("stat again ") + p);
    c.expect(server.requests_served() == before, std::string("negative entry cached: ") + p);
  }
  c.expect_errno(::stat((m + "/small.txt/x").c_str(), &s), ENOTDIR, "stat through a file");
  c.expect_errno(::open((m + "/new").c_str(), O_CREAT | O_WRONLY, 0644), EROFS, "create");
  c.expect_errno(::open((m + "/small.txt").c_str(), O_WRONLY), EROFS, "open for write");
  c.expect_errno(::mkdir((m + "/dir").c_str(), 0755), EROFS, "mkdir");
  struct statvfs sv {};
  c.expect(::statvfs(m.c_str(), &sv) == 0 && sv.f_bsize == 131072 && (sv.f_flag & ST_RDONLY), "statvfs");
}

void check_xattrs(Checks& c, const std::string& m) {
  std::string p = m + "/small.txt";
  char buf[256];
  ssize_t n = ::getxattr(p.c_str(), "user.ferry", buf, sizeof buf);
  c.expect(n == 5 && std::string(buf, 5) == "hello", "getxattr user.ferry");
  c.expect_errno(static_cast<int>(::getxattr(p.c_str(), "user.ferr", buf, sizeof buf)), ENODATA,
                 "getxattr of a missing name");
  n = ::listxattr(p.c_str(), buf, sizeof buf);
  c.expect(n > 0 && std::string(buf, static_cast<size_t>(n)).find("user.ferry") != std::string::npos,
           "listxattr");
}

// Eight readers at once, half with O_DIRECT (every read reaches the server),
// half through the page cache after dropping it, each with its own stride.
void check_concurrent_reads(Checks& c, const std::string& m) {
  const std::string want = pseudo_random(kBigSize, 1);
  const std::string path = m + "/big.bin";
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 8; ++t) {
    readers.emplace_back([&, t] {
      bool direct = t < 4;
      int fd = ::open(path.c_str(), O_RDONLY | (direct ? O_DIRECT : 0));
      if (fd < 0 && direct) {
        fd = ::open(path.c_str(), O_RDONLY);
        direct = false;
      }
      size_t chunk = direct ? (16 + 4 * t) * 4096 : 100000 + 777 * t;
      char* buf = static_cast<char*>(std::aligned_alloc(4096, 2 << 20));
      for (int pass = 0; pass < 3; ++pass) {
        if (!direct) ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        for (size_t off = 0; off < kBigSize; off += chunk) {
          ssize_t n = ::pread(fd, buf, chunk, static_cast<off_t>(off));
          size_t expect = std::min(chunk, kBigSize - off);
          if (n != static_cast<ssize_t>(expect) || want.compare(off, expect, buf, expect) != 0) ++bad;
        }
      }
      std::free(buf);
      ::close(fd);
    });
  }
  for (auto& r : readers) r.join();
  c.expect(bad == 0, std::to_string(bad.load()) + " concurrent reads returned wrong bytes");
}

// Runs in the forked child; returns its exit status.
int mount_and_check(const std::string& image, const std::string& mnt, bool xattrs, Checks& c) {
  auto skip = [&](std::string why) {
    c.failures = std::move(why);
    return kSkip;
  };
  std::unique_ptr<SquashfsServer> server = SquashfsServer::open(image);  // before unshare
  std::string why;
  if (!enter_namespaces(&why)) return skip(why);
  // After unshare: fuse_fill_super() refuses a /dev/fuse opened in another
  // user namespace than the mount's (EINVAL).
  int fuse = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fuse < 0) return skip(std::string("open /dev/fuse: ") + std::strerror(errno));
  std::string data = "fd=" + std::to_string(fuse) + ",rootmode=40000,user_id=" + std::to_string(::getuid()) +
                     ",group_id=" + std::to_string(::getgid()) + ",default_permissions";
  if (::mount("ferry", mnt.c_str(), "fuse.ferry", MS_RDONLY | MS_NOSUID | MS_NODEV, data.c_str()))
    return skip(std::string("mount fuse: ") + std::strerror(errno));
  server->start(fuse);
  check_contents(c, mnt);
  check_links_and_listing(c, mnt);
  check_errors(c, mnt, *server);
  if (xattrs) check_xattrs(c, mnt);
  check_concurrent_reads(c, mnt);
  c.expect(server->requests_served() > 0, "requests_served() counts");
  server.reset();  // the workers own what they need: the mount keeps working
  c.expect(slurp(mnt + "/many/" + many_name(7)) == "7\n", "served after the server object is gone");
  c.expect(worker_count() >= 4, "at least 4 named workers");
  c.expect(::umount2(mnt.c_str(), MNT_DETACH) == 0, "umount");
  for (int i = 0; i < 100 && worker_count() > 0; ++i) usleep(50000);
  c.expect(worker_count() == 0, "workers exit once the mount is gone");
  return c.failures.empty() ? 0 : 1;
}

TEST_F(SquashfsServerTest, MountedImageServesTree) {
  std::string mnt = dir_ + "/mnt";
  fs::create_directories(mnt);
  int pipefd[2];
  ASSERT_EQ(::pipe2(pipefd, O_CLOEXEC), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // no gtest in here: report through the pipe and the status
    ::close(pipefd[0]);
    ::alarm(120);  // a hung request must not hang the test run
    Checks c;
    int status = 1;
    try {
      status = mount_and_check(image_, mnt, xattr_, c);
    } catch (const std::exception& e) {
      c.failures += std::string("exception: ") + e.what() + "\n";
    }
    ssize_t ignored = ::write(pipefd[1], c.failures.data(), c.failures.size());
    (void)ignored;
    ::_exit(status);
  }
  ::close(pipefd[1]);
  std::string report;
  char buf[4096];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;) report.append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  if (WIFEXITED(status) && WEXITSTATUS(status) == kSkip) GTEST_SKIP() << report;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status << ":\n" << report;
}

}  // namespace
}  // namespace ferry::image
