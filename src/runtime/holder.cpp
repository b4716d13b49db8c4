// The mount holder process (mounts.hpp): it owns the user and mount
// namespaces in which one SquashFS image is mounted, serves the image's FUSE
// requests from the server's threads, counts the containers attached on its
// socket, and ends a grace period after the last one leaves. Its main thread
// only polls: the socket, its connections and a signalfd. A directory
// image's holder is the same without the mount and the server: it only
// keeps the namespaces its containers share.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <fmt/format.h>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "ferry/core/error.hpp"
#include "ferry/image/squashfs_server.hpp"
#include "ferry/runtime/mounts.hpp"
#include "mount_ops.hpp"
#include "namespaces.hpp"
#include "rendezvous.hpp"
#include "rootfs.hpp"

namespace ferry::runtime {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kLockRetry = std::chrono::milliseconds(20);
constexpr int kEndSignals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};

struct Client {
  Fd fd;
  bool attached = false;
};

// The listening socket, and the identity of its file: only a holder whose
// socket file is still its own removes the rendezvous files when it ends.
struct Listener {
  Fd fd;
  dev_t dev = 0;
  ino_t ino = 0;
};

Listener listen_at(const std::string& path) {
  sockaddr_un addr = socket_address(path);
  Listener l;
  l.fd = Fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!l.fd) throw_errno("socket", path);
  if (::bind(l.fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw_errno("bind", path);
  if (::listen(l.fd.get(), SOMAXCONN) != 0) throw_errno("listen", path);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) throw_errno("stat", path);
  l.dev = st.st_dev;
  l.ino = st.st_ino;
  return l;
}

class Holder {
 public:
  Holder(const HolderArgs& args, HolderPaths paths, std::unique_ptr<image::SquashfsServer> server,
         Listener listener, Fd signals)
      : args_(args),
        paths_(std::move(paths)),
        server_(std::move(server)),
        listener_(std::move(listener)),
        signals_(std::move(signals)),
        since_(std::time(nullptr)),
        deadline_(Clock::now() + std::chrono::seconds(args.grace)) {}

  [[noreturn]] void serve() {
    for (;;) {
      std::vector<pollfd> p{{listener_.fd.get(), POLLIN, 0}, {signals_.get(), POLLIN, 0}};
      for (const auto& c : clients_) p.push_back({c.fd.get(), POLLIN, 0});
      int timeout = -1;
      if (idle()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now()).count();
        timeout = static_cast<int>(std::clamp<long long>(left, 0, 1 << 30));
      }
      if (::poll(p.data(), p.size(), timeout) < 0 && errno != EINTR) ::_exit(3);
      if (p[1].revents != 0) on_signal();
      // Connections first, then the new ones (their slots are not in p yet).
      for (size_t i = clients_.size(); i-- > 0;)
        if (p[2 + i].revents != 0 && !handle(clients_[i])) drop(i);
      if (p[0].revents != 0) accept_clients();
      if (idle() && Clock::now() >= deadline_) try_end();
    }
  }

 private:
  bool idle() const { return attached_ == 0 || forced_; }

  void on_signal() {
    signalfd_siginfo si{};
    (void)!::read(signals_.get(), &si, sizeof si);
    forced_ = true;  // containers still attached lose their image; ferry tells them
    deadline_ = Clock::now();
  }

  void accept_clients() {
    for (;;) {
      Fd fd(::accept4(listener_.fd.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
      if (!fd) return;
      // The directory is the user's own; the peer's uid is checked anyway.
      ucred cred{};
      socklen_t len = sizeof cred;
      if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != ::getuid()) continue;
      // A container sends "attach" right after connecting and waits for the
      // answer: answer now, not a poll round later. With 32 containers
      // starting on two CPUs the holder waits for a CPU at every wakeup,
      // and those waits were most of the time the containers spent in
      // recv (bench/launch, perf sched).
      Client c{std::move(fd), false};
      if (handle(c)) clients_.push_back(std::move(c));
    }
  }

  void reply(const Client& c, const std::string& msg) { ::send(c.fd.get(), msg.data(), msg.size(), MSG_NOSIGNAL); }

  // One request; false when the connection is over.
  bool handle(Client& c) {
    char buf[64];
    ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    if (n <= 0) return false;
    std::string_view req(buf, static_cast<size_t>(n));
    if (req == "attach" && !c.attached && !forced_) {
      c.attached = true;
      ++attached_;
      stopping_ = false;  // a container came: a pending `ferry umount` loses
      reply(c, "ok");
    } else if (req == "status") {
      reply(c, status_json());
    } else if (req == "stop") {
      if (attached_ != 0) {
        reply(c, fmt::format("busy {}", attached_));
      } else {
        stopping_ = true;
        deadline_ = Clock::now();
        reply(c, "stopping");
      }
    } else {
      return false;
    }
    return true;
  }

  void drop(size_t i) {
    if (clients_[i].attached && --attached_ == 0) {
      deadline_ = stopping_ ? Clock::now() : Clock::now() + std::chrono::seconds(args_.grace);
      if (server_) server_->trim();  // idle through the grace period: keep only the kernel's cache
    }
    clients_.erase(clients_.begin() + static_cast<long>(i));
  }

  std::string status_json() const {
    nlohmann::json j = {{"key", args_.key},           {"pid", ::getpid()},       {"image", args_.image},
                        {"path", args_.path},         {"since", since_},         {"attached", attached_},
                        {"requests", server_ ? server_->requests_served() : uint64_t{0}}, {"grace", args_.grace},
                        {"kind", server_ ? "squashfs" : "directory"}};
    return j.dump();
  }

  // Ends under the key's lock, so that no container is half-way through
  // joining and no new holder is being started. When the lock is busy,
  // someone is doing one of those: serve on and try again shortly.
  void try_end() {
    KeyLock lock(paths_.lock, false);
    if (!lock.locked()) {
      deadline_ = Clock::now() + kLockRetry;
      return;
    }
    struct stat st {};
    bool ours = ::lstat(paths_.sock.c_str(), &st) == 0 && st.st_dev == listener_.dev && st.st_ino == listener_.ino;
    if (ours) ::unlink(paths_.sock.c_str());
    listener_.fd.reset();  // connections not yet accepted are refused
    clients_.clear();      // attached ones (forced end) see the holder gone
    if (server_)  // the overlay, then the tmpfs holding the FUSE mount (mount_shared_image)
      for (int i = 0; i < 2; ++i) ::umount2(paths_.root.c_str(), MNT_DETACH);
    if (ours) {
      if (server_) ::rmdir(paths_.root.c_str());
      lock.remove();
    }
    // The FUSE workers may be blocked in read(2) on a connection that is
    // going away: end the process, not the threads one by one.
    ::_exit(0);
  }

  const HolderArgs& args_;
  HolderPaths paths_;
  std::unique_ptr<image::SquashfsServer> server_;
  Listener listener_;
  Fd signals_;
  std::vector<Client> clients_;
  unsigned attached_ = 0;
  bool forced_ = false;
  bool stopping_ = false;
  int64_t since_;
  Clock::time_point deadline_;
};

// The image, as its containers take it: the FUSE mount under a read-only
// overlay (its other lower layer made here), both in a tmpfs at ROOT that only
// this namespace sees. The overlay is what its containers clone, so its
// dentries and inodes outlive each container and start warm in the next
// one; a root overlay made per container started cold every time (5 ms of
// `import numpy`, bench/image-io). It also answers ioctls itself (ENOTTY),
// which on a FUSE file are each a round trip to the server: Python's
// isatty() on every module it opens. The overlay keeps private clones of
// its layers, so covering them is harmless.
//
// The overlay's other layer holds the standard mount points the image lacks
// (ARGS.points: /home/USER, /etc/hosts), made as a container makes them in
// its own layer, so that containers find them and need no overlay of their
// own: two fewer mounts per start and no cold dentries in /etc. A point
// the image has as the other type, or that leads out of it, is left to the
// container, which reports it.
void mount_shared_image(image::SquashfsServer& server, const HolderArgs& args, const std::string& root) {
  mount_tmpfs(root, "mode=0700");
  const std::string image = root + "/image";
  const std::string layer = root + "/layer";
  for (const auto& d : {image, layer})
    if (::mkdir(d.c_str(), 0755) != 0) throw_errno("mkdir", d);
  mount_squashfs(server, image, ::getuid(), ::getgid());
  std::vector<MissingPath> points;
  Rootfs view(image);
  for (const auto& p : args.points) {
    if (p.size() < 3 || (p[0] != 'd' && p[0] != 'f') || p[1] != ':') throw Error("bad --point " + p);
    try {
      if (auto m = view.missing(p.substr(2), p[0] == 'd')) points.push_back(std::move(*m));
    } catch (const Error&) {
    }
  }
  make_mount_points(layer, points);
  // The layer's root stands in for the image's (its mode; the owner is ours).
  struct stat st {};
  if (::stat(image.c_str(), &st) != 0) throw_errno("stat", image);
  if (::chmod(layer.c_str(), st.st_mode & 07777) != 0) throw_errno("chmod", layer);
  Fd tmpfs = open_or_throw(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  set_mount_flags_fd(tmpfs.get(), MountFlags{true, true, true}, root);  // the layer stays as made
  // By fd: the rendezvous directory's path may hold a ':' or ','.
  Fd lower = open_or_throw(layer, O_PATH | O_DIRECTORY | O_CLOEXEC);
  Fd under = open_or_throw(image, O_PATH | O_DIRECTORY | O_CLOEXEC);
  std::string data = fmt::format("lowerdir=/proc/self/fd/{}:/proc/self/fd/{},userxattr", lower.get(), under.get());
  if (::mount("overlay", root.c_str(), "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, data.c_str()) != 0)
    throw_errno("mount overlay of the image", root);
}

}  // namespace

int holder_main(const HolderArgs& args) {
  Fd ready(args.ready_fd);
  try {
    if (::chdir("/") != 0) throw_errno("chdir", "/");
    ::prctl(PR_SET_NAME, "ferry-holder");  // not "exe", from /proc/self/exe
    HolderPaths paths = holder_paths(rendezvous_dir(), args.key);
    // A directory's holder keeps namespaces only: its containers take the
    // directory by path, each checking it is the one of the key.
    std::unique_ptr<image::SquashfsServer> server;
    if (!args.directory) server = image::SquashfsServer::open(args.path);
    if (mount_key(args.path) != args.key)
      throw Error(fmt::format("the image {} changed while its holder started: {}",
                              args.directory ? "directory" : "file", args.path));
    uid_t uid = ::getuid();
    gid_t gid = ::getgid();
    // As a container's, but slave: host mounts made later (an automounted
    // home) still reach the containers that join.
    enter_namespaces(uid, gid, Propagation::Slave);
    // Signals arrive on a signalfd; the FUSE workers, started next, inherit
    // the blocked mask.
    sigset_t set;
    sigemptyset(&set);
    for (int s : kEndSignals) sigaddset(&set, s);
    ::signal(SIGPIPE, SIG_IGN);
    if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) throw_errno("sigprocmask");
    Fd signals(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signals) throw_errno("signalfd");
    if (server) mount_shared_image(*server, args, paths.root);
    Listener listener = listen_at(paths.sock);
    write_all(ready.get(), "ok", 2, "mount holder ready pipe");
    ready.reset();
    Holder(args, std::move(paths), std::move(server), std::move(listener), std::move(signals)).serve();
  } catch (const Error& e) {
    std::string msg = e.what();
    if (ready) (void)!::write(ready.get(), msg.data(), msg.size());
    return 1;
  }
}

}  // namespace ferry::runtime
