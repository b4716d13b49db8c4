// `ferry mounts` and `ferry umount`: asking the user's holders about
// themselves, ending idle ones, and removing what dead ones left behind.
#include <dirent.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <set>

#include "ferry/core/error.hpp"
#include "ferry/runtime/mounts.hpp"
#include "rendezvous.hpp"

namespace ferry::runtime {
namespace {

// The keys that have any rendezvous file: KEY.sock, KEY.lock, KEY.root.
std::set<std::string> keys_in(const std::string& dir) {
  std::set<std::string> keys;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) throw_errno("open", dir);
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    auto dot = name.rfind('.');
    if (dot == std::string::npos || dot == 0) continue;
    std::string ext = name.substr(dot);
    if (ext == ".sock" || ext == ".lock" || ext == ".root") keys.insert(name.substr(0, dot));
  }
  ::closedir(d);
  return keys;
}

HolderStatus parse_status(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) throw Error("mount holder: malformed status reply");
  HolderStatus s;
  s.key = j.value("key", "");
  s.pid = j.value("pid", 0);
  s.image = j.value("image", "");
  s.path = j.value("path", "");
  s.since = j.value("since", int64_t{0});
  s.attached = j.value("attached", 0u);
  s.requests = j.value("requests", uint64_t{0});
  s.grace = j.value("grace", 0);
  s.directory = j.value("kind", std::string("squashfs")) == "directory";
  return s;
}

// A key nobody serves: its files are a dead holder's. Removed only under
// the lock, which a starting or ending holder's side holds.
void clean_stale(const HolderPaths& paths) {
  KeyLock lock(paths.lock, false);
  if (!lock.locked() || connect_holder(paths.sock)) return;
  ::unlink(paths.sock.c_str());
  ::rmdir(paths.root.c_str());
  lock.remove();
}

// Waits (10 s at most) until the holder has exited: its pidfd becomes
// readable then, after its mount namespace, and so the image mount, is gone.
void await_exit(int pidfd, pid_t pid) {
  pollfd p{pidfd, POLLIN, 0};
  int r;
  while ((r = ::poll(&p, 1, 10000)) < 0 && errno == EINTR) {
  }
  if (r == 0) throw Error(fmt::format("the mount holder (pid {}) did not end (a container joined it meanwhile?)", pid));
}

}  // namespace

std::vector<HolderStatus> list_holders() {
  std::string dir = rendezvous_dir();
  std::vector<HolderStatus> out;
  for (const auto& key : keys_in(dir)) {
    HolderPaths paths = holder_paths(dir, key);
    if (auto fd = connect_holder(paths.sock)) {
      if (auto reply = ask_holder(fd->get(), "status")) {
        out.push_back(parse_status(*reply));
        continue;
      }
    }
    clean_stale(paths);
  }
  return out;
}

StopOutcome stop_holder(const std::string& key, unsigned& attached) {
  HolderPaths paths = holder_paths(rendezvous_dir(), key);
  auto fd = connect_holder(paths.sock);
  if (!fd) {
    clean_stale(paths);
    return StopOutcome::NotRunning;
  }
  Fd pidfd;
  pid_t pid = 0;
  bool alive = holder_pidfd(fd->get(), pidfd, pid);  // before "stop": the live connection vouches for the pid
  auto reply = ask_holder(fd->get(), "stop");
  if (!reply) return StopOutcome::Stopped;  // it was ending anyway
  if (reply->rfind("busy ", 0) == 0) {
    attached = static_cast<unsigned>(std::stoul(reply->substr(5)));
    return StopOutcome::Busy;
  }
  if (*reply != "stopping") throw Error("mount holder: unexpected reply to stop: " + *reply);
  if (alive) await_exit(pidfd.get(), pid);
  return StopOutcome::Stopped;
}

}  // namespace ferry::runtime
