// The plugin's child helpers (child.hpp) on plain /bin/sh children: what
// they read, what they bound, and that a child writing much to one pipe
// cannot stall a reader of both.
#include "child.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

namespace ferry_spank {
namespace {

int wait_exit(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Child sh(const std::string& script, int out_fd = 1, const std::vector<std::string>& set = {}) {
  Child c = start_ferry("/bin/sh", {"-c", script}, nullptr, static_cast<uid_t>(-1), 0, out_fd, set);
  EXPECT_GT(c.pid, 0);
  return c;
}

// 1 MiB on stderr first, far past a pipe's 64 KiB: read in turn (stdout to
// its end, then stderr) this would deadlock; read together it completes.
TEST(Child, ReadBothTakesBothPipesAtOnce) {
  Child c = sh("head -c 1048576 /dev/zero >&2; printf out; printf err >&2; exit 3");
  auto [out, err] = read_both(c.out, c.err);
  ::close(c.out), ::close(c.err);
  EXPECT_EQ(out, "out");
  EXPECT_EQ(err.size(), (1U << 20) + 3);
  EXPECT_EQ(err.substr(err.size() - 3), "err");
  EXPECT_EQ(wait_exit(c.pid), 3);
}

// Past kMaxChildOutput a pipe is still drained (the child ends) but what
// is kept stops at the bound.
TEST(Child, ReadBothKeepsAtMostTheBound) {
  Child c = sh("head -c 9437184 /dev/zero; echo done >&2");
  auto [out, err] = read_both(c.out, c.err);
  ::close(c.out), ::close(c.err);
  EXPECT_EQ(out.size(), kMaxChildOutput);
  EXPECT_EQ(err, "done\n");
  EXPECT_EQ(wait_exit(c.pid), 0);
}

TEST(Child, ReadAllSaysWhetherItReachedTheEnd) {
  Child c = sh("printf hello");
  bool whole = false;
  EXPECT_EQ(read_all(c.out, 10000, &whole), "hello");
  EXPECT_TRUE(whole);
  ::close(c.out), ::close(c.err);
  EXPECT_EQ(wait_exit(c.pid), 0);

  // A child that keeps its pipe open: the deadline ends the read.
  c = sh("printf part; exec sleep 30");
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(read_all(c.out, 300, &whole), "part");
  EXPECT_FALSE(whole);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  ::kill(c.pid, SIGKILL);
  ::close(c.out), ::close(c.err);
  EXPECT_EQ(wait_exit(c.pid), 128 + SIGKILL);
}

// The ready pipe may be fd 3 (the keeper's); SET replaces a variable of the
// environment, and no other descriptor of ours reaches the child.
TEST(Child, OutFdSetAndNoStrayDescriptors) {
  int keep[2];
  ASSERT_EQ(::pipe(keep), 0);  // not close-on-exec: start_ferry must still close it
  ::setenv("FERRY_CHILD_TEST", "old", 1);
  Child c = sh("echo \"$FERRY_CHILD_TEST\" >&3; ls /proc/self/fd >&2", 3, {"FERRY_CHILD_TEST=new"});
  ::close(keep[0]), ::close(keep[1]);
  auto [out, err] = read_both(c.out, c.err);
  ::close(c.out), ::close(c.err);
  EXPECT_EQ(out, "new\n");
  // ls's own directory descriptor comes and goes: 0-3 plus at most one more.
  std::vector<std::string> fds;
  for (size_t at = 0, nl; (nl = err.find('\n', at)) != std::string::npos; at = nl + 1)
    fds.push_back(err.substr(at, nl - at));
  ASSERT_GE(fds.size(), 4U) << err;
  EXPECT_LE(fds.size(), 5U) << err;
  EXPECT_EQ(std::vector<std::string>(fds.begin(), fds.begin() + 4), (std::vector<std::string>{"0", "1", "2", "3"}));
  EXPECT_EQ(wait_exit(c.pid), 0);
}

// With the answer on stdout, fd 3 is no pipe of ours: a descriptor of the
// caller's there is closed too.
TEST(Child, Fd3IsClosedWhenTheAnswerIsOnStdout) {
  int saved = ::fcntl(3, F_DUPFD_CLOEXEC, 10);  // the test runner's fd 3, if any, set aside meanwhile
  int keep[2];
  ASSERT_EQ(::pipe(keep), 0);
  ASSERT_EQ(::dup2(keep[0], 3), 3);  // not close-on-exec
  Child c = sh("ls /proc/self/fd");
  if (saved >= 0) ::dup2(saved, 3), ::close(saved);
  else ::close(3);
  ::close(keep[0]), ::close(keep[1]);
  auto [out, err] = read_both(c.out, c.err);
  ::close(c.out), ::close(c.err);
  std::vector<std::string> fds;
  for (size_t at = 0, nl; (nl = out.find('\n', at)) != std::string::npos; at = nl + 1)
    fds.push_back(out.substr(at, nl - at));
  // ls's own directory descriptor, if any, is the lowest free one: 3.
  ASSERT_GE(fds.size(), 3U) << out;
  EXPECT_LE(fds.size(), 4U) << out;
  EXPECT_EQ(std::vector<std::string>(fds.begin(), fds.begin() + 3), (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(wait_exit(c.pid), 0);
}

TEST(Child, AMissingBinaryExits127WithOneLine) {
  Child c = start_ferry("/nonexistent/ferry", {}, nullptr, static_cast<uid_t>(-1), 0, 1, {});
  ASSERT_GT(c.pid, 0);
  auto [out, err] = read_both(c.out, c.err);
  ::close(c.out), ::close(c.err);
  EXPECT_EQ(out, "");
  EXPECT_EQ(err, "ferry: cannot run /nonexistent/ferry: No such file or directory");
  EXPECT_EQ(wait_exit(c.pid), 127);
}

TEST(Child, TrimDropsTrailingNewlinesAndSpaces) {
  EXPECT_EQ(trim("a b \n\n "), "a b");
  EXPECT_EQ(trim("\n"), "");
}

}  // namespace
}  // namespace ferry_spank
