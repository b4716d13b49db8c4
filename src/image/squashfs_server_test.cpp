// Tests for the in-process SquashFS server: a child process mounts the
// image the way the runtime does (unshare, mount(2) with fd=N, start) and
// checks what a container would see through the kernel.
#include "squashfs_test_fixture.hpp"

namespace ferry::image::sqfs_test {
namespace {

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
}  // namespace ferry::image::sqfs_test
