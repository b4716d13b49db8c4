// spank_ferry.so: `srun`, `sbatch` and `salloc --container-image=IMAGE`.
//
// The plugin is small on purpose and links nothing of ferry: what needs
// ferry runs the ferry binary, as the job's user.
//
//   srun/sbatch (local, allocator)  `ferry resolve-image` pins IMAGE to the
//       file it names now (pulling it first, once per job) and passes the
//       pin in the job's environment: every node and step runs those bits.
//   slurmstepd, once per node and step (user_init)  starts
//       `ferry container-keeper`, which joins (or starts) the user's mount
//       holder of the image on this node, builds the container (volumes,
//       pivot_root) in its own namespaces and reports the working directory
//       and environment; then waits.
//   each task (task_init, as the user, just before exec)  enters the
//       keeper's user and mount namespaces with setns(2): its root is now
//       the container's; chdir, environment, NO_NEW_PRIVS; slurmstepd execs
//       the command there.
//   step end (exit)  stops the keeper; the holder (grace 0 under Slurm)
//       unmounts and exits with its last container.
//
// docs/cli/slurm.md is the user's guide and says what happens when.
#include <dlfcn.h>
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

// spank.h declares the callbacks with C++ linkage when compiled as C++:
// all of it is C.
extern "C" {
#include <slurm/slurm.h>  // SLURM_BATCH_SCRIPT
#include <slurm/spank.h>
}

#include "child.hpp"
#include "kernel_mount.hpp"
#include "relay_dir.hpp"

// Built with hidden visibility: only what Slurm looks up is exported.
#define FERRY_EXPORT __attribute__((visibility("default")))

extern "C" {
// SPANK_PLUGIN() gives these internal linkage in C++: export them by hand.
FERRY_EXPORT extern const char plugin_name[] = "ferry";
FERRY_EXPORT extern const char plugin_type[] = "spank";
FERRY_EXPORT extern const unsigned int plugin_version = SLURM_VERSION_NUMBER;
FERRY_EXPORT extern const unsigned int spank_plugin_version = 1;
}

namespace {

using ferry_spank::Child;
using ferry_spank::read_all;
using ferry_spank::start_ferry;
using ferry_spank::trim;

constexpr const char* kEnvName = "FERRY_CONTAINER_IMAGE";          // as the user gave it
constexpr const char* kEnvPinned = "FERRY_CONTAINER_IMAGE_PINNED";  // the file it named
constexpr int kReadyTimeoutMs = 300000;

struct State {
  // Options.
  std::string image;
  std::vector<std::string> mounts;
  std::string workdir;
  std::vector<std::string> env_names;
  bool writable = false;
  std::string mpi;  // --container-mpi[=PROFILE]: the keeper's --mpi[=PROFILE], empty when not given
  bool gpus = false;  // --container-gpus: the keeper's --gpus=all, over the step's GPUs
  // plugstack.conf arguments.
  std::string ferry;
  std::vector<std::string> site_mounts;
  std::string store;  // store= : where job images are pulled (%u: user name, %U: uid)
  int grace = 0;
  // The step's container (remote context).
  int keeper_pidfd = -1;  // taken while the keeper is our unreaped child: never another process
  pid_t keeper = -1;      // its pid, for messages only
  bool failed = false;  // the container did not start: every task must fail
  std::string cwd;
  std::vector<std::pair<std::string, std::string>> env;  // what the container changes
};
State g;

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end - start));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

// SRC:DST[:ro|rw], both absolute (DST may be left out: SRC:SRC).
bool valid_mount(const std::string& m) {
  auto parts = split(m, ':');
  if (parts.empty() || parts.size() > 3 || parts[0].empty() || parts[0][0] != '/') return false;
  if (parts.size() >= 2 && (parts[1].empty() || parts[1][0] != '/')) return false;
  return parts.size() < 3 || parts[2] == "ro" || parts[2] == "rw";
}

int opt_image(int, const char* arg, int) {
  if (arg == nullptr || *arg == '\0') {
    slurm_error("ferry: --container-image needs an image (a name, a registry reference or a SquashFS path)");
    return -1;
  }
  g.image = arg;
  return 0;
}

int opt_mounts(int, const char* arg, int) {
  g.mounts.clear();
  for (const auto& m : split(arg != nullptr ? arg : "", ',')) {
    if (!valid_mount(m)) {
      slurm_error("ferry: --container-mounts: '%s' is not SRC:DST[:ro|rw] with absolute paths", m.c_str());
      return -1;
    }
    g.mounts.push_back(m);
  }
  return 0;
}

int opt_workdir(int, const char* arg, int) {
  if (arg == nullptr || arg[0] != '/') {
    slurm_error("ferry: --container-workdir needs an absolute path");
    return -1;
  }
  g.workdir = arg;
  return 0;
}

int opt_env(int, const char* arg, int) {
  g.env_names.clear();
  for (const auto& n : split(arg != nullptr ? arg : "", ',')) {
    if (n.empty() || n.find_first_of("= ") != std::string::npos) {
      slurm_error("ferry: --container-env: '%s' is not a variable name", n.c_str());
      return -1;
    }
    g.env_names.push_back(n);
  }
  return 0;
}

int opt_writable(int, const char*, int) {
  g.writable = true;
  return 0;
}

// --container-mpi[=PROFILE]: the keeper replaces the image's MPI with the
// host's (ferry run --mpi, docs/design/mpi.md). The profile name is checked
// here for a clear error at submit time; ferry.toml's profiles are the
// keeper's to look up.
int opt_mpi(int, const char* arg, int) {
  std::string name = arg != nullptr ? arg : "";
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      slurm_error("ferry: --container-mpi: '%s' is not a profile name (letters, digits, '_', '-', '.')",
                  name.c_str());
      return -1;
    }
  g.mpi = name.empty() ? "--mpi" : "--mpi=" + name;
  return 0;
}

int opt_gpus(int, const char*, int) {
  g.gpus = true;
  return 0;
}

struct spank_option kOptions[] = {
    {const_cast<char*>("container-image"), const_cast<char*>("IMAGE"),
     const_cast<char*>("[ferry] run the tasks in IMAGE: a store name, a registry reference or a SquashFS path"), 1, 0,
     opt_image},
    {const_cast<char*>("image"), const_cast<char*>("IMAGE"),
     const_cast<char*>("[ferry] same as --container-image (Shifter's spelling)"), 1, 0, opt_image},
    {const_cast<char*>("container-mounts"), const_cast<char*>("SRC:DST[:ro],..."),
     const_cast<char*>("[ferry] bind host paths into the container"), 1, 0, opt_mounts},
    {const_cast<char*>("container-workdir"), const_cast<char*>("DIR"),
     const_cast<char*>("[ferry] working directory inside the container"), 1, 0, opt_workdir},
    {const_cast<char*>("container-env"), const_cast<char*>("NAME,..."),
     const_cast<char*>("[ferry] variables whose submit-time value overrides the image's"), 1, 0, opt_env},
    {const_cast<char*>("container-writable"), nullptr,
     const_cast<char*>("[ferry] make the root writable (a tmpfs overlay, gone at exit)"), 0, 0, opt_writable},
    {const_cast<char*>("container-mpi"), const_cast<char*>("PROFILE"),
     const_cast<char*>("[ferry] replace the image's MPI with the host's (PROFILE from ferry.toml)"), 2, 1, opt_mpi},
    {const_cast<char*>("container-gpus"), nullptr,
     const_cast<char*>("[ferry] inject the NVIDIA driver and the step's GPUs (ferry run --gpus=all)"), 0, 2,
     opt_gpus},
    SPANK_OPTIONS_TABLE_END,
};

// The ferry binary installed beside this plugin (PREFIX/lib/ferry/ ->
// PREFIX/bin/ferry), so an install relocated with `cmake --install --prefix`
// finds its own; else the configured path.
std::string default_ferry() {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&default_ferry), &info) != 0 && info.dli_fname != nullptr) {
    std::string p = info.dli_fname;
    for (int i = 0; i < 3 && p.rfind('/') != std::string::npos; ++i) p.erase(p.rfind('/'));
    if (!p.empty() && ::access((p + "/bin/ferry").c_str(), X_OK) == 0) return p + "/bin/ferry";
  }
  return FERRY_BIN;
}

// plugstack.conf arguments: ferry=PATH, mounts=SRC:DST[:ro],..., grace=SECONDS.
int parse_args(int ac, char** av) {
  g.ferry = default_ferry();
  for (int i = 0; i < ac; ++i) {
    std::string a = av[i];
    auto eq = a.find('=');
    std::string key = a.substr(0, eq), val = eq == std::string::npos ? "" : a.substr(eq + 1);
    if (key == "ferry" && !val.empty() && val[0] == '/') {
      g.ferry = val;
    } else if (key == "mounts") {
      for (const auto& m : split(val, ','))
        if (!m.empty()) {
          if (!valid_mount(m)) {
            slurm_error("ferry: plugstack.conf: mounts: '%s' is not SRC:DST[:ro|rw]", m.c_str());
            return -1;
          }
          g.site_mounts.push_back(m);
        }
    } else if (key == "store") {
      if (val.empty() || val[0] != '/') {
        slurm_error("ferry: plugstack.conf: store must be an absolute path, got '%s'", val.c_str());
        return -1;
      }
      g.store = val;
    } else if (key == "kernel-mount") {
      if (!ferry_spank::kernel_mount_arg(val)) return -1;
    } else if (key == "grace") {
      char* end = nullptr;
      long v = std::strtol(val.c_str(), &end, 10);
      if (val.empty() || *end != '\0' || v < 0 || v > 86400) {
        slurm_error("ferry: plugstack.conf: grace must be 0-86400 seconds, got '%s'", val.c_str());
        return -1;
      }
      g.grace = static_cast<int>(v);
    } else {
      slurm_error("ferry: plugstack.conf: unknown argument '%s' (ferry=, mounts=, store=, grace=, kernel-mount=)",
                  a.c_str());
      return -1;
    }
  }
  return 0;
}

// store= for UID, %u and %U expanded; empty when the site set none or the
// job's own environment names a store (FERRY_STORE: the user's choice wins).
std::string store_for(uid_t uid, const char* users_own) {
  if (g.store.empty() || (users_own != nullptr && *users_own != '\0')) return {};
  std::string name = std::to_string(uid);
  char buf[4096];
  struct passwd pw {}, *found = nullptr;
  if (::getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found != nullptr) name = found->pw_name;
  std::string out;
  for (size_t i = 0; i < g.store.size(); ++i) {
    if (g.store[i] == '%' && i + 1 < g.store.size() && (g.store[i + 1] == 'u' || g.store[i + 1] == 'U')) {
      out += g.store[i + 1] == 'u' ? name : std::to_string(uid);
      ++i;
    } else {
      out += g.store[i];
    }
  }
  return out;
}

// FERRY_STORE=STORE for start_ferry, or nothing when STORE is empty.
std::vector<std::string> store_env(const std::string& store) {
  if (store.empty()) return {};
  return {"FERRY_STORE=" + store};
}

// local/allocator: pins the image for the job (see the top of this file).
int pin_image() {
  const char* name = std::getenv(kEnvName);
  const char* pinned = std::getenv(kEnvPinned);
  if (name != nullptr && pinned != nullptr && g.image == name) return 0;  // a step of a job that pinned it
  Child c = start_ferry(g.ferry, {"resolve-image", "--pull=missing", g.image}, nullptr, static_cast<uid_t>(-1), 0, 1,
                        store_env(store_for(::getuid(), std::getenv("FERRY_STORE"))));
  if (c.pid < 0) {
    slurm_error("ferry: cannot start %s: %s", g.ferry.c_str(), std::strerror(errno));
    return -1;
  }
  auto [out_all, err_all] = ferry_spank::read_both(c.out, c.err);
  std::string out = trim(std::move(out_all)), err = trim(std::move(err_all));
  ::close(c.out), ::close(c.err);
  int status = 0;
  while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || out.empty()) {
    slurm_error("%s", err.empty() ? "ferry: could not resolve the container image" : err.c_str());
    return -1;
  }
  ::setenv(kEnvName, g.image.c_str(), 1);  // srun and sbatch send their environment with the job
  ::setenv(kEnvPinned, out.c_str(), 1);
  return 0;
}

std::string job_env(spank_t sp, const char* name) {
  char buf[4096];
  if (spank_getenv(sp, name, buf, sizeof buf) != ESPANK_SUCCESS) return {};
  return buf;
}

std::vector<std::string> keeper_args(const std::string& image, const std::string& script_dir) {
  std::vector<std::string> a = {"container-keeper", "--ready-fd", "3", "--grace", std::to_string(g.grace),
                                "--pull=never"};
  if (!script_dir.empty()) {
    // The batch step execs its script from slurmd's spool: it must be there;
    // its srun runs the host's (docs/design/slurm-relay.md).
    a.insert(a.end(), {"-v", script_dir + ":" + script_dir + ":ro"});
    for (auto& r : ferry_spank::relay_args()) a.push_back(std::move(r));
  }
  for (const auto& m : g.site_mounts) a.insert(a.end(), {"-v", m});
  for (const auto& m : g.mounts) a.insert(a.end(), {"-v", m});
  if (!g.workdir.empty()) a.insert(a.end(), {"-w", g.workdir});
  for (const auto& n : g.env_names) a.insert(a.end(), {"-e", n});  // -e NAME: the host's value wins
  if (g.writable) a.push_back("--writable-tmpfs");
  if (!g.mpi.empty()) a.push_back(g.mpi);
  if (g.gpus) a.push_back("--gpus=all");
  const std::string& root = ferry_spank::kernel_mount_root();  // kernel-mount=yes
  if (!root.empty()) a.insert(a.end(), {"--image-root", root});
  a.push_back(image);
  return a;
}

// Signals the keeper through its pidfd, never by pid: slurmstepd may have
// reaped it (it waits for any child), and its pid may be another process's
// by now (start_keeper fails the step when it gets no pidfd).
void signal_keeper(int sig) {
  if (g.keeper_pidfd >= 0) ::syscall(SYS_pidfd_send_signal, g.keeper_pidfd, sig, nullptr, 0);
}

// Reaps the keeper through its pidfd (as signal_keeper signals it: its pid
// may be another child of slurmstepd's by now). True once it is gone, reaped
// here or by slurmstepd already; WNOHANG: false while it runs.
bool reap_keeper(int options) {
  constexpr auto kPidfd = static_cast<idtype_t>(3);  // P_PIDFD (Linux 5.4); glibc 2.36 has no name for it
  siginfo_t info{};
  while (::waitid(kPidfd, static_cast<id_t>(g.keeper_pidfd), &info, WEXITED | options) != 0)
    if (errno != EINTR) return errno == ECHILD;
  return info.si_pid != 0;
}

void stop_keeper() {
  if (g.keeper_pidfd < 0) return;
  signal_keeper(SIGTERM);
  bool gone = false;
  for (int i = 0; i < 500 && !(gone = reap_keeper(WNOHANG)); ++i) ::usleep(10000);  // 5 s, then SIGKILL
  if (!gone) {
    signal_keeper(SIGKILL);
    reap_keeper(0);
  }
  g.keeper = -1;
  ::close(g.keeper_pidfd);
  g.keeper_pidfd = -1;
}

// The directory of the batch script, for the batch step; empty otherwise.
std::string batch_script_dir(spank_t sp) {
  uint32_t step = 0;
  int argc = 0;
  char** argv = nullptr;
  if (spank_get_item(sp, S_JOB_STEPID, &step) != ESPANK_SUCCESS || step != SLURM_BATCH_SCRIPT) return {};
  if (spank_get_item(sp, S_JOB_ARGV, &argc, &argv) != ESPANK_SUCCESS || argc < 1 || argv[0][0] != '/') return {};
  std::string script = argv[0];
  return script.substr(0, script.rfind('/'));
}

// remote, once per node and step: the step's container.
int start_container(spank_t sp) {
  std::string image = g.image;
  if (job_env(sp, kEnvName) == g.image) {
    std::string pinned = job_env(sp, kEnvPinned);
    if (!pinned.empty()) image = pinned;
  }
  uid_t uid;
  gid_t gid;
  char** env = nullptr;
  if (spank_get_item(sp, S_JOB_UID, &uid) != ESPANK_SUCCESS || spank_get_item(sp, S_JOB_GID, &gid) != ESPANK_SUCCESS ||
      spank_get_item(sp, S_JOB_ENV, &env) != ESPANK_SUCCESS) {
    slurm_error("ferry: cannot read the job's user or environment");
    return -1;
  }
  std::vector<std::string> set = store_env(store_for(uid, job_env(sp, "FERRY_STORE").c_str()));
  if (g.gpus) {
    // The GPUs Slurm gave the step on this node, by their global ids: in a
    // job with ConstrainDevices, CUDA_VISIBLE_DEVICES counts from 0 over
    // them instead. The tasks keep the CUDA_VISIBLE_DEVICES Slurm sets
    // (enter_container); it holds inside, which sees the host's /dev.
    std::string ids = job_env(sp, "SLURM_STEP_GPUS");
    if (ids.empty()) ids = job_env(sp, "SLURM_JOB_GPUS");
    if (!ids.empty()) set.push_back("CUDA_VISIBLE_DEVICES=" + ids);
  }
  if (ferry_spank::kernel_mount(sp, image, uid) != 0) return -1;  // kernel-mount=yes: kernel_mount.hpp
  Child c = start_ferry(g.ferry, keeper_args(image, batch_script_dir(sp)), env, uid, gid, 3, set);
  if (c.pid < 0) {
    slurm_error("ferry: cannot start %s: %s", g.ferry.c_str(), std::strerror(errno));
    return -1;
  }
  g.keeper_pidfd = static_cast<int>(::syscall(SYS_pidfd_open, c.pid, 0));
  if (g.keeper_pidfd < 0) {
    // Still our unreaped child, so its pid is its own for this kill.
    int err = errno;
    ::kill(c.pid, SIGKILL);
    ::waitpid(c.pid, nullptr, 0);
    ::close(c.out), ::close(c.err);
    slurm_error("ferry: cannot take a pidfd of the container's keeper (Linux 5.8 or later is needed): %s",
                std::strerror(err));
    return -1;
  }
  g.keeper = c.pid;
  bool whole = false;
  std::string ready = read_all(c.out, kReadyTimeoutMs, &whole);
  ::close(c.out);
  if (!whole || ready.rfind("ok\n", 0) != 0) {
    // Not ready: it failed (its one line is on stderr) or hangs.
    signal_keeper(SIGKILL);
    std::string err = trim(read_all(c.err, 1000));
    ::close(c.err);
    stop_keeper();
    if (err.empty() && ready.size() >= ferry_spank::kMaxChildOutput)
      err = "ferry: the container did not start: its keeper said more than " +
            std::to_string(ferry_spank::kMaxChildOutput >> 20) + " MiB";
    slurm_error("%s", err.empty() ? "ferry: the container did not start" : err.c_str());
    return -1;
  }
  ::close(c.err);  // from now on it has nothing to say that we would read
  // "ok\n" CWD\0 NAME=VALUE\0 ...: keep what differs from the job's own.
  auto fields = split(ready.substr(3), '\0');
  g.cwd = fields.empty() ? "/" : fields[0];
  for (size_t i = 1; i < fields.size(); ++i) {
    auto eq = fields[i].find('=');
    if (eq == std::string::npos) continue;
    std::string name = fields[i].substr(0, eq), value = fields[i].substr(eq + 1);
    char buf[8192];
    if (spank_getenv(sp, name.c_str(), buf, sizeof buf) == ESPANK_SUCCESS && value == buf) continue;
    g.env.emplace_back(std::move(name), std::move(value));
  }
  return 0;
}

// The variables by which Slurm binds a task to its GPUs.
bool is_gpu_binding(const std::string& name) {
  return name == "CUDA_VISIBLE_DEVICES" || name == "GPU_DEVICE_ORDINAL";
}

// remote, in each task just before exec: enter the container.
int enter_container(spank_t sp) {
  int pidfd = g.keeper_pidfd;
  if (pidfd < 0 || ::setns(pidfd, CLONE_NEWUSER | CLONE_NEWNS) != 0) {
    slurm_error("ferry: cannot enter the container of %s (keeper pid %d): %s", g.image.c_str(), g.keeper,
                std::strerror(errno));
    return -1;
  }
  ::close(pidfd);  // the task's copy; slurmstepd keeps its own
  if (::chdir(g.cwd.c_str()) != 0 && ::chdir("/") != 0) return -1;
  for (const auto& [name, value] : g.env) {
    // A task's own GPU binding (--gpus-per-task, --gpu-bind) stays.
    char buf[1];  // only whether it is set: a value that does not fit is ESPANK_NOSPACE
    if (g.gpus && is_gpu_binding(name) && spank_getenv(sp, name.c_str(), buf, sizeof buf) != ESPANK_ENV_NOEXIST)
      continue;
    spank_setenv(sp, name.c_str(), value.c_str(), 1);
  }
  // Nothing the task runs may gain privilege (setuid bits, file capabilities).
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
  return 0;
}

}  // namespace

extern "C" {

FERRY_EXPORT int slurm_spank_init(spank_t sp, int ac, char** av) {
  if (parse_args(ac, av) != 0) return -1;
  spank_context_t ctx = spank_context();
  if (ctx != S_CTX_LOCAL && ctx != S_CTX_ALLOCATOR && ctx != S_CTX_REMOTE) return 0;
  for (struct spank_option* o = kOptions; o->name != nullptr; ++o)
    if (spank_option_register(sp, o) != ESPANK_SUCCESS) return -1;
  return 0;
}

FERRY_EXPORT int slurm_spank_init_post_opt(spank_t sp, int, char**) {
  (void)sp;
  if (g.image.empty()) return 0;
  spank_context_t ctx = spank_context();
  if (ctx == S_CTX_LOCAL || ctx == S_CTX_ALLOCATOR) return pin_image();
  return 0;
}

// A failure here is said once per node (slurm_error reaches the user's
// srun) but not returned: Slurm 22.05's srun exits 0 when user_init fails
// ("launch failed"). Each task fails instead, before exec, so the step
// fails and no task ever runs outside its container.
FERRY_EXPORT int slurm_spank_user_init(spank_t sp, int, char**) {
  if (g.image.empty() || !spank_remote(sp)) return 0;
  if (start_container(sp) != 0) g.failed = true;
  ferry_spank::kernel_unmount();  // the keeper has its own copy of a kernel mount now
  return 0;
}

FERRY_EXPORT int slurm_spank_task_init(spank_t sp, int, char**) {
  if (g.failed) return -1;
  if (g.keeper_pidfd < 0) return 0;
  return enter_container(sp);
}

FERRY_EXPORT int slurm_spank_exit(spank_t sp, int, char**) {
  if (spank_remote(sp)) {
    stop_keeper();
    ferry_spank::remove_relay_dir();
  }
  return 0;
}

}  // extern "C"
