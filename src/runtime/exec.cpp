#include "exec.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/core/limits.hpp"
#include "ferry/core/path.hpp"
#include "ferry/runtime/defaults.hpp"

namespace ferry::runtime {
namespace {

enum Stage : int { kStageSetup = 1, kStageChdir = 2, kStageExec = 3 };
struct ChildError {
  int stage;
  int err;
};

// Everything the child reads, built by the parent.
struct ChildPlan {
  std::vector<std::string> candidates;  // paths to try for argv[0], PATH order
  std::vector<char*> argv, envp;
  const char* cwd = nullptr;
  const sigset_t* mask = nullptr;
  int err_fd = -1;
  pid_t parent = 0;
};

[[noreturn]] void child_fail(const ChildPlan& p, int stage, int err) noexcept {
  ChildError rec{stage, err};
  ssize_t ignored = ::write(p.err_fd, &rec, sizeof rec);
  (void)ignored;
  ::_exit(kExitFailure);
}

// No capability may survive into the command (capabilities(7)): empty the
// bounding and ambient sets and the permitted/effective/inheritable sets.
int drop_capabilities() noexcept {
  // Capability numbers are dense: EINVAL marks the first one past this
  // kernel's CAP_LAST_CAP, so nothing is left above it.
  for (int cap = 0; cap <= 63; ++cap) {
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0) continue;
    if (errno == EINVAL) break;
    return -1;
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) return -1;
  struct __user_cap_header_struct hdr {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  return static_cast<int>(::syscall(SYS_capset, &hdr, data));
}

int child_main(void* arg) noexcept {
  const auto& p = *static_cast<const ChildPlan*>(arg);
  // If ferry is killed outright, the command goes too (it would otherwise
  // run on with a dead FUSE server under it). Check the parent after
  // setting it: it may have died in between.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) child_fail(p, kStageSetup, errno);
  if (::getppid() != p.parent) ::_exit(kExitFailure);
  if (::sigprocmask(SIG_SETMASK, p.mask, nullptr) != 0) child_fail(p, kStageSetup, errno);
  restore_open_files_limit();  // the cache's raised limit is ferry's, not the command's
  if (::chdir(p.cwd) != 0) child_fail(p, kStageChdir, errno);
  // NO_NEW_PRIVS: setuid bits and file capabilities are ignored from here on.
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) child_fail(p, kStageSetup, errno);
  if (drop_capabilities() != 0) child_fail(p, kStageSetup, errno);
  int err = ENOENT;
  bool denied = false;
  for (const auto& c : p.candidates) {
    ::execve(c.c_str(), p.argv.data(), p.envp.data());
    err = errno;
    if (err == EACCES) denied = true;
    else if (err != ENOENT && err != ENOTDIR) break;  // found, but failed
  }
  child_fail(p, kStageExec, (denied && (err == ENOENT || err == ENOTDIR)) ? EACCES : err);
}

// execvp semantics with the container's PATH (glibc's execvpe would search
// ferry's own PATH instead): an empty entry, or no PATH, is the working directory.
std::vector<std::string> exec_candidates(const std::string& file, const std::vector<std::string>& env) {
  if (file.find('/') != std::string::npos) return {file};
  std::vector<std::string> dirs = split_fields(env_get(env, "PATH").value_or(""), ':');
  if (dirs.empty()) dirs.emplace_back();
  std::vector<std::string> out;
  for (const auto& dir : dirs) out.push_back((dir.empty() ? "." : dir) + "/" + file);
  return out;
}

Error child_error(const ChildError& rec, const ExecRequest& req) {
  const std::string& cmd = req.args[0];
  if (rec.stage == kStageChdir) return Error(rec.err, "chdir", req.cwd);
  if (rec.stage == kStageSetup) return Error(rec.err, "prepare process", cmd);
  if (rec.err == ENOENT || rec.err == ENOTDIR)
    return Error(fmt::format("{}: command not found", cmd), kExitNotFound);
  if (rec.err == EACCES) return Error(fmt::format("{}: permission denied", cmd), kExitCannotExecute);
  return Error(rec.err, "exec", cmd, kExitCannotExecute);
}

}  // namespace

pid_t spawn(const ExecRequest& req) {
  ChildPlan plan;
  plan.candidates = exec_candidates(req.args.at(0), req.env);
  for (const auto& a : req.args) plan.argv.push_back(const_cast<char*>(a.c_str()));
  plan.argv.push_back(nullptr);
  for (const auto& e : req.env) plan.envp.push_back(const_cast<char*>(e.c_str()));
  plan.envp.push_back(nullptr);
  plan.cwd = req.cwd.c_str();
  plan.mask = &req.child_mask;
  plan.parent = ::getpid();

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe");
  Fd rd(fds[0]), wr(fds[1]);
  plan.err_fd = wr.get();

  constexpr size_t kStack = 256 * 1024;
  void* stack = ::mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) throw_errno("mmap child stack");
  // CLONE_VFORK: we resume once the child has exec'd or exited.
  pid_t pid = ::clone(child_main, static_cast<char*>(stack) + kStack, CLONE_VM | CLONE_VFORK | SIGCHLD, &plan);
  int clone_errno = errno;
  ::munmap(stack, kStack);
  if (pid < 0) throw Error(clone_errno, "clone", "container process");
  wr.reset();
  ChildError rec{};
  if (::read(rd.get(), &rec, sizeof rec) == static_cast<ssize_t>(sizeof rec)) {
    ::waitpid(pid, nullptr, 0);
    throw child_error(rec, req);
  }
  return pid;
}

}  // namespace ferry::runtime
