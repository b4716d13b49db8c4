#include "hooks.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ferry/core/error.hpp"
#include "ferry/core/limits.hpp"
#include "ferry/core/log.hpp"
#include "rootfs.hpp"

namespace ferry::runtime {
namespace {

// Everything the child reads, built before fork(): after it the child calls
// only async-signal-safe functions (STYLE.md 12).
struct HookPlan {
  std::vector<char*> argv, envp;
  int exe = -1, in = -1, out = -1, err_pipe = -1;
  const char* cwd = nullptr;
  pid_t parent = 0;
};

// The capabilities ferry holds in the container's user namespace (there
// only) are kept across exec as ambient ones: a hook such as nvidia-cdi-hook
// update-ldcache chroots or unshares namespaces, which a uid other than 0
// in the namespace may do only with them (capabilities(7), "Ambient").
// Async-signal-safe: raw syscalls only.
bool keep_namespace_capabilities() noexcept {
  __user_cap_header_struct head{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &head, data) != 0) return false;
  for (auto& d : data) d.inheritable = d.permitted;
  if (::syscall(SYS_capset, &head, data) != 0) return false;
  for (unsigned cap = 0; cap < 64; ++cap)
    if (data[cap / 32].permitted & (1u << (cap % 32))) ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
  return true;
}

[[noreturn]] void hook_child(const HookPlan& p) noexcept {
  int err = 0;
  ::setpgid(0, 0);  // its own group: a timeout kills what it started too
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || ::getppid() != p.parent) ::_exit(kExitFailure);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  restore_open_files_limit();
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGPIPE, &dfl, nullptr);
  // A script's interpreter opens /dev/fd/N: the descriptor must survive exec.
  int exe = ::dup(p.exe);
  if (::dup2(p.in, 0) < 0 || ::dup2(p.out, 1) < 0 || ::dup2(p.out, 2) < 0 || exe < 0 || ::chdir(p.cwd) != 0 ||
      !keep_namespace_capabilities() || ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    err = errno;
  } else {
    ::syscall(SYS_execveat, exe, "", p.argv.data(), p.envp.data(), AT_EMPTY_PATH);
    err = errno;
  }
  ssize_t ignored = ::write(p.err_pipe, &err, sizeof err);
  (void)ignored;
  ::_exit(kExitFailure);
}

std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// The last non-empty line the hook printed, for the one-line message.
std::string last_line(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size == 0) return {};
  size_t n = std::min<size_t>(static_cast<size_t>(st.st_size), 4096);
  std::string buf(n, '\0');
  ssize_t got = ::pread(fd, buf.data(), n, st.st_size - static_cast<off_t>(n));
  buf.resize(got > 0 ? static_cast<size_t>(got) : 0);
  while (!buf.empty() && (buf.back() == '\n' || buf.back() == ' ')) buf.pop_back();
  auto nl = buf.rfind('\n');
  return nl == std::string::npos ? buf : buf.substr(nl + 1);
}

std::string state_json(const HookContext& ctx) {
  nlohmann::json state = {{"ociVersion", "1.0.2"},
                          {"id", fmt::format("ferry-{}", ::getpid())},
                          {"status", "creating"},
                          {"pid", ::getpid()},
                          {"bundle", ctx.bundle}};
  return state.dump();
}

void write_bundle(const HookContext& ctx) {
  nlohmann::json config = {{"ociVersion", "1.0.2"}, {"root", {{"path", ctx.root}, {"readonly", ctx.read_only}}}};
  if (ctx.process != nullptr)
    config["process"] = {{"args", ctx.process->args},
                         {"env", ctx.process->env},
                         {"cwd", "/"},
                         {"user", {{"uid", ctx.process->uid}, {"gid", ctx.process->gid}}}};
  if (::mkdir(ctx.bundle.c_str(), 0700) != 0) throw_errno("mkdir", ctx.bundle);
  std::string path = ctx.bundle + "/config.json";
  Fd f = open_or_throw(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  std::string body = config.dump(2);
  write_all(f.get(), body.data(), body.size(), path);
}

// Waits for PID, at most TIMEOUT seconds (0: no limit); kills its process
// group when time is up. Returns the wait status, or nullopt on timeout.
std::optional<int> wait_hook(pid_t pid, int timeout) {
  if (timeout > 0) {
    Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!pidfd) throw_errno("pidfd_open", "hook");
    struct pollfd pfd {pidfd.get(), POLLIN, 0};
    int r;
    do r = ::poll(&pfd, 1, timeout * 1000);
    while (r < 0 && errno == EINTR);
    if (r == 0) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      int ignored;
      while (::waitpid(pid, &ignored, 0) < 0 && errno == EINTR) {
      }
      return std::nullopt;
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw_errno("waitpid", "hook");
  return status;
}

void run_hook(const Hook& h, int exe, const HookContext& ctx) {
  std::string what = "createContainer hook " + h.path;
  log::debug("run " + what);
  std::vector<std::string> args = h.args.empty() ? std::vector<std::string>{h.path} : h.args;
  // The state goes into the pipe before the hook starts (it is far below
  // the pipe's capacity): no SIGPIPE if the hook never reads it.
  int in[2];
  if (::pipe2(in, O_CLOEXEC) != 0) throw_errno("pipe", what);
  Fd in_r(in[0]);
  {
    Fd in_w(in[1]);
    std::string state = state_json(ctx);
    write_all(in_w.get(), state.data(), state.size(), what + " stdin");
  }
  Fd out(::memfd_create("ferry-hook-output", MFD_CLOEXEC));
  if (!out) throw_errno("memfd_create", what);
  int errp[2];
  if (::pipe2(errp, O_CLOEXEC) != 0) throw_errno("pipe", what);
  Fd err_r(errp[0]), err_w(errp[1]);
  HookPlan plan{c_strings(args), c_strings(h.env), exe, in_r.get(), out.get(), err_w.get(), ctx.bundle.c_str(),
                ::getpid()};
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork", what);
  if (pid == 0) hook_child(plan);
  err_w.reset();
  int child_err = 0;
  ssize_t n;
  do n = ::read(err_r.get(), &child_err, sizeof child_err);
  while (n < 0 && errno == EINTR);
  auto status = wait_hook(pid, h.timeout);
  if (n == sizeof child_err) throw Error(child_err, "run", what);
  if (!status) throw Error(fmt::format("{}: timed out after {} s", what, h.timeout));
  std::string said = last_line(out.get());
  std::string tail = said.empty() ? "" : ": " + said;
  if (WIFSIGNALED(*status)) throw Error(fmt::format("{}: killed by signal {}{}", what, WTERMSIG(*status), tail));
  if (WEXITSTATUS(*status) != 0)
    throw Error(fmt::format("{}: exited with status {}{}", what, WEXITSTATUS(*status), tail));
}

}  // namespace

void prepare_hook_layer(Rootfs& image, const std::string& layer) {
  auto mode_of = [&](const char* path) -> mode_t {  // 0: absent
    auto fd = image.open(path, /*follow_last=*/false);
    struct stat st {};
    return fd && ::fstatat(fd->get(), "", &st, AT_EMPTY_PATH) == 0 ? st.st_mode : 0;
  };
  // Hooks write in /etc (ldconfig's cache, ld.so.conf.d) and are not
  // chrooted: a symlink there would lead their writes out of the image,
  // into a host bind (your home, /tmp) or the host itself.
  mode_t etc = mode_of("/etc");
  const char* link = S_ISLNK(etc) ? "/etc" : S_ISLNK(mode_of("/etc/ld.so.conf.d")) ? "/etc/ld.so.conf.d" : nullptr;
  if (link != nullptr)
    throw Error(fmt::format("createContainer hooks write in {}, which is a symlink in the image: not run", link));
  if (!S_ISDIR(etc)) return;
  std::string path = layer + "/etc";
  if (::mkdir(path.c_str(), etc & 07777) != 0 && errno != EEXIST) throw_errno("mkdir", path);
}

std::vector<Fd> open_hooks(const std::vector<Hook>& hooks) {
  std::vector<Fd> out;
  for (const auto& h : hooks) {
    Fd fd(::open(h.path.c_str(), O_PATH | O_CLOEXEC));
    if (!fd) {
      if (errno == ENOENT) throw Error(fmt::format("createContainer hook {}: does not exist", h.path));
      throw_errno("open hook", h.path);
    }
    out.push_back(std::move(fd));
  }
  return out;
}

void run_create_container_hooks(const std::vector<Hook>& hooks, const std::vector<Fd>& exes,
                                const HookContext& ctx) {
  if (hooks.empty()) return;
  write_bundle(ctx);
  for (size_t i = 0; i < hooks.size(); ++i)
    if (hooks[i].when == Hook::When::CreateContainer) run_hook(hooks[i], exes[i].get(), ctx);
}

}  // namespace ferry::runtime
