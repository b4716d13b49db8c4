// The container start-up, as a pipeline of named steps (STYLE.md 4). The
// order matters and each step says why it is where it is. A walkthrough of
// the kernel side is in docs/design/runtime.md.
#include "ferry/runtime/container.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>
#include <algorithm>
#include <memory>
#include <optional>
#include <set>

#include "accounts.hpp"
#include "exec.hpp"
#include "hooks.hpp"
#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/core/log.hpp"
#include "ferry/core/path.hpp"
#include "ferry/image/squashfs_server.hpp"
#include "mount_ops.hpp"
#include "namespaces.hpp"
#include "rendezvous.hpp"
#include "rootfs.hpp"
#include "supervise.hpp"

namespace ferry::runtime {
namespace {

// Private scratch space in ferry's own mount namespace. Mounting a tmpfs
// over /tmp there hides nothing from the container: every host path it
// needs was opened before (bwrap uses the same trick).
constexpr const char* kStaging = "/tmp";
const std::string kRootDir = std::string(kStaging) + "/root";
const std::string kLowerDir = std::string(kStaging) + "/lower";
const std::string kLayerDir = std::string(kStaging) + "/points";
const std::string kWorkDir = std::string(kStaging) + "/work";

constexpr size_t kMaxAccountFile = 4 << 20;

// A mount source taken on the host before anything is mounted: a detached
// copy of its mount tree, so a missing source is an error before any work
// and later mounts (the staging tmpfs over /tmp) are not part of it.
struct OpenedMount {
  const Mount* mount;
  Fd tree;
  bool directory = false;
  // Spelt below another mount (a host directory's bind, a tmpfs, a per-node
  // cache), or in a volume that replaced the root: its mount point is made
  // there when missing. Any other's was made in the image's layer
  // (plan_mount_points); missing when it is mounted, a symlink in the image
  // has led it into a host directory, and nothing is made there.
  bool make_point = false;
  bool on_root = false;  // resolves to the root in the image (plan_mount_points)
};

std::vector<OpenedMount> open_sources(const std::vector<Mount>& mounts) {
  std::vector<OpenedMount> out;
  for (const auto& m : mounts) {
    if (m.kind != Mount::Kind::Bind) {
      out.push_back({&m, Fd(), m.kind == Mount::Kind::Tmpfs || m.kind == Mount::Kind::Served});
      continue;
    }
    Fd tree = clone_tree(AT_FDCWD, m.source.c_str());
    if (!tree) {
      if (m.optional && (errno == ENOENT || errno == EACCES || errno == ENOTDIR)) continue;
      if (errno == ENOENT) throw Error(fmt::format("volume {}: source does not exist", m.source));
      throw_errno("open volume source", m.source);
    }
    struct stat st {};
    if (::fstat(tree.get(), &st) != 0) throw_errno("stat", m.source);
    out.push_back({&m, std::move(tree), S_ISDIR(st.st_mode)});
  }
  return out;
}

void mount_directory(int image_tree, const std::string& image, const std::string& target) {
  Fd dst = open_or_throw(target, O_PATH | O_DIRECTORY);
  attach_tree(image_tree, dst.get(), MountFlags{true, true, true}, image);
}

void mount_image(const ContainerSpec& spec, image::SquashfsServer* server, int image_tree) {
  if (::mkdir(kLowerDir.c_str(), 0755) != 0) throw_errno("mkdir", kLowerDir);
  if (server != nullptr) mount_squashfs(*server, kLowerDir, spec.process.uid, spec.process.gid);
  else mount_directory(image_tree, spec.root.path, kLowerDir);
}

// Stacks a layer holding the missing mount points over the image (one
// overlay, however many points). Read-only: the layer is a second lower
// layer. --writable-tmpfs: the layer is the overlay's upper, so writes land
// in the staging tmpfs and vanish with it. The image stays the bottom layer,
// for which overlayfs asks for no xattrs. "userxattr": trusted.* xattrs are
// not ours in a user namespace (Documentation/filesystems/overlayfs.rst).
void mount_overlay(bool writable) {
  if (::mkdir(kRootDir.c_str(), 0755) != 0) throw_errno("mkdir", kRootDir);
  std::string data;
  unsigned long flags = MS_NOSUID | MS_NODEV;
  if (writable) {
    if (::mkdir(kWorkDir.c_str(), 0755) != 0) throw_errno("mkdir", kWorkDir);
    data = fmt::format("lowerdir={},upperdir={},workdir={},userxattr", kLowerDir, kLayerDir, kWorkDir);
  } else {
    data = fmt::format("lowerdir={}:{},userxattr", kLayerDir, kLowerDir);
    flags |= MS_RDONLY;
  }
  if (::mount("overlay", kRootDir.c_str(), "overlay", flags, data.c_str()) != 0)
    throw_errno(writable ? "mount overlay (--writable-tmpfs)" : "mount overlay of mount points", kRootDir);
}

// Mount points missing in directories of the image (/home/USER,
// /etc/hosts) come from an overlay on each top-most such directory rather
// than on the root: an overlay's dentries start cold in every new
// container, and lookups elsewhere in the image (a Python import makes a
// thousand) then never pass through one. `import numpy` from a directory
// image lacking /home/USER and /etc/hosts: 84.5 ms under a root overlay,
// 79.4 ms with overlays on /etc and /home, native 79.0 (bench/image-io's
// image, timeit -n 40). False, having done nothing, when a point lies in
// the root itself: only a root overlay can add it. Each overlay's lower
// layer is the directory it is mounted on, both named by one fd opened
// beneath the root (the lower is taken before the mount covers it).
bool overlay_directories(Rootfs& image, const std::vector<MissingPath>& points) {
  auto within = [](const std::vector<std::string>& top, const std::vector<std::string>& dir) {
    return top.size() <= dir.size() && std::equal(top.begin(), top.end(), dir.begin());
  };
  std::vector<const MissingPath*> by_depth;
  for (const auto& p : points) {
    if (p.existing.empty()) return false;
    by_depth.push_back(&p);
  }
  std::stable_sort(by_depth.begin(), by_depth.end(),
                   [](const MissingPath* a, const MissingPath* b) { return a->existing.size() < b->existing.size(); });
  std::vector<const MissingPath*> tops;  // one point each, for its directory's names and mode
  for (const MissingPath* p : by_depth)
    if (std::none_of(tops.begin(), tops.end(), [&](const MissingPath* t) { return within(t->existing, p->existing); }))
      tops.push_back(p);
  for (size_t i = 0; i < tops.size(); ++i) {
    const auto& top = tops[i]->existing;
    const auto depth = static_cast<long>(top.size());
    std::vector<MissingPath> below;
    for (const auto& p : points)
      if (within(top, p.existing))
        below.push_back({{p.existing.begin() + depth, p.existing.end()},
                         {p.modes.begin() + depth, p.modes.end()},
                         p.rest,
                         p.directory});
    std::string layer = fmt::format("{}{}", kLayerDir, i);
    if (::mkdir(layer.c_str(), 0755) != 0) throw_errno("mkdir", layer);
    // The layer's root stands in for the image's directory.
    if (::chmod(layer.c_str(), tops[i]->modes.back() & 07777) != 0) throw_errno("chmod", layer);
    make_mount_points(layer, below);
    std::string dir;
    for (const auto& name : top) dir += "/" + name;
    Fd target = image.existing(dir, true);
    std::string at = fmt::format("/proc/self/fd/{}", target.get());
    std::string data = fmt::format("lowerdir={}:{},userxattr", layer, at);
    if (::mount("overlay", at.c_str(), "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, data.c_str()) != 0)
      throw_errno("mount overlay of mount points", dir);
  }
  return true;
}

std::string read_image_file(Rootfs& rootfs, const std::string& path) {
  struct stat st {};
  auto f = rootfs.open_file(path, st);
  if (!f || static_cast<size_t>(st.st_size) > kMaxAccountFile) return {};
  return read_fd(f->get(), path, kMaxAccountFile);
}

// The image as ImageInspectors see it, through Rootfs.
class MountedImage : public ImageRoot {
 public:
  explicit MountedImage(Rootfs& rootfs) : rootfs_(rootfs) {}
  std::optional<Fd> open_file(const std::string& path) override {
    struct stat st {};
    return rootfs_.open_file(path, st);
  }

 private:
  Rootfs& rootfs_;
};

// A file ferry writes (passwd, group), to be bound read-only at `destination`.
struct Generated {
  std::string destination;
  std::string body;
};

std::vector<Generated> account_files(Rootfs& image, const Account& acc) {
  if (acc.passwd_line.empty()) return {};
  return {{"/etc/passwd", merge_account_file(read_image_file(image, "/etc/passwd"), {acc.passwd_line})},
          {"/etc/group", merge_account_file(read_image_file(image, "/etc/group"), acc.group_lines)}};
}

// Generated files are written to the staging tmpfs and bound read-only.
void mount_generated(Rootfs& rootfs, const Generated& g, int index) {
  std::string path = fmt::format("{}/content{}", kStaging, index);
  Fd f = open_or_throw(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (::write(f.get(), g.body.data(), g.body.size()) != static_cast<ssize_t>(g.body.size()))
    throw_errno("write", path);
  Fd src = open_or_throw(path, O_PATH);
  Fd target = rootfs.ensure(g.destination, false);
  bind_fd(src.get(), target.get(), MountFlags{true, true, true}, g.destination);
}

std::string mount_label(const Mount& m) {
  if (m.kind != Mount::Kind::Bind) return m.destination;
  if (m.volume) return fmt::format("volume {}:{}", m.source, m.destination);
  return m.source == m.destination ? "the host's " + m.source
                                   : fmt::format("the host's {} at {}", m.source, m.destination);
}

// The mount points the image lacks, found before anything is bound. A
// destination below another bind is on the host's side: it is made (mkdir)
// when that bind is in place.
//
// Mounts on the root itself (a volume at /, or at a symlink in the image
// that leads there, whatever its depth as spelt; a default mount there is
// refused: a hostile image's `tmp -> /`) are moved to the front of
// OPENED, in their order, and counted in ON_ROOT: they are mounted first,
// so that the generated files and every other mount land in the new root
// instead of in the tree it covers.
std::vector<MissingPath> plan_mount_points(Rootfs& image, std::vector<OpenedMount>& opened,
                                           const std::vector<Generated>& generated, size_t& on_root) {
  std::vector<MissingPath> out;
  for (const auto& g : generated)
    if (auto m = image.missing(g.destination, false)) out.push_back(std::move(*m));
  for (auto& om : opened) {
    const std::string& dst = om.mount->destination;
    bool below_bind = false;
    for (const auto& o : opened)
      if (o.mount->kind != Mount::Kind::Content && o.mount->destination != dst &&
          path_within(dst, o.mount->destination)) {
        om.make_point = true;
        below_bind = below_bind || o.mount->kind == Mount::Kind::Bind;
      }
    if (below_bind) continue;
    try {
      if (auto m = image.missing(dst, om.directory, &om.on_root)) out.push_back(std::move(*m));
      // Else the host's /tmp, say, would become the root, and the mount
      // points of the others would be made in it.
      if (om.on_root && !om.mount->volume)
        throw Error(
            fmt::format("{} leads to / in the image (a symlink): only a volume (-v) may replace the "
                        "container's root",
                        dst));
    } catch (Error& e) {
      throw e.context(mount_label(*om.mount));
    }
  }
  auto rest =
      std::stable_partition(opened.begin(), opened.end(), [](const OpenedMount& om) { return om.on_root; });
  on_root = static_cast<size_t>(rest - opened.begin());
  // The others, and the second root mount on, land in the volume that
  // replaced the root.
  for (size_t i = on_root > 0 ? 1 : opened.size(); i < opened.size(); ++i) opened[i].make_point = true;
  return out;
}

void apply_mount(Rootfs& rootfs, const OpenedMount& om, int index) {
  const Mount& m = *om.mount;
  try {
    if (m.kind == Mount::Kind::Content) return mount_generated(rootfs, {m.destination, m.content}, 100 + index);
    // The plan checked this in the image; a symlink in a host directory
    // bound since (another user's, in /tmp) may lead there too.
    bool on_root = false;
    Fd target = om.make_point ? rootfs.ensure(m.destination, om.directory, &on_root)
                              : rootfs.existing(m.destination, om.directory, &on_root);
    if (on_root && !m.volume)
      throw Error(
          fmt::format("{} leads to the container's root through a symlink: only a volume (-v) may replace "
                      "it",
                      m.destination));
    if (m.kind == Mount::Kind::Tmpfs) {
      std::string tmp = fmt::format("{}/tmpfs{}", kStaging, index);
      if (::mkdir(tmp.c_str(), 0700) != 0) throw_errno("mkdir", tmp);
      mount_tmpfs(tmp, "mode=0755");
      rootfs.private_mount(tmp);
      move_mount_to(tmp, target.get(), m.destination);
    } else if (m.kind == Mount::Kind::Served) {  // mounted in staging, then moved, as a tmpfs
      std::string tmp = fmt::format("{}/served{}", kStaging, index);
      if (::mkdir(tmp.c_str(), 0700) != 0) throw_errno("mkdir", tmp);
      mount_served(*m.served, tmp, ::getuid(), ::getgid());
      rootfs.private_mount(tmp);
      move_mount_to(tmp, target.get(), m.destination);
    } else {
      // /dev and device binds (GPUs, interconnect) keep their device nodes;
      // everything else is nodev.
      bool is_dev = m.destination == "/dev" || m.device;
      attach_tree(om.tree.get(), target.get(), MountFlags{m.read_only, true, !is_dev}, m.destination);
    }
    if (on_root) rootfs.root_replaced();
  } catch (Error& e) {
    throw e.context(mount_label(m));
  }
}

std::string choose_cwd(Rootfs& rootfs, const Process& p) {
  for (const auto& c : p.cwd_candidates) {
    auto fd = rootfs.open(c);
    struct stat st {};
    if (fd && ::fstatat(fd->get(), "", &st, AT_EMPTY_PATH) == 0 && S_ISDIR(st.st_mode)) return c;
    if (p.cwd_required) throw Error(fmt::format("workdir {}: no such directory in the container", c));
  }
  return "/";
}

// pivot_root(".", ".") stacks the old root on top of the new one; detaching
// it leaves only the container's tree (pivot_root(2), "NOTES").
void pivot_into(const std::string& root) {
  if (::chdir(root.c_str()) != 0) throw_errno("chdir", root);
  if (::syscall(SYS_pivot_root, ".", ".") != 0) throw_errno("pivot_root", root);
  if (::umount2(".", MNT_DETACH) != 0) throw_errno("detach old root");
  if (::chdir("/") != 0) throw_errno("chdir", "/");
}

// The image's root tree: the caller's own FUSE mount (server), the mount
// holder's (shared, joined), or a directory (neither, or shared: taken in
// the holder's namespaces).
struct ImageSource {
  std::unique_ptr<image::SquashfsServer> server;
  std::optional<SharedMount> shared;

  // A directory's holder going away takes nothing from its containers (the
  // namespaces live on with them): only a SquashFS one is watched.
  int holder_fd() const { return shared && !shared->directory ? shared->socket.get() : -1; }
};

// The mount points every container of this user needs (HolderArgs::points),
// for a new holder of a SquashFS image to make in its shared layer (asked
// only when one is started: a join stats nothing): those of
// the standard binds whose source exists, and the generated account files.
std::vector<std::string> standard_points(const ContainerSpec& spec) {
  std::vector<std::string> out;
  if (spec.root.format != image::Format::Squashfs) return out;
  for (const auto& m : spec.mounts) {
    struct stat st {};
    if (m.standard && m.kind == Mount::Kind::Bind && ::stat(m.source.c_str(), &st) == 0)
      out.push_back((S_ISDIR(st.st_mode) ? "d:" : "f:") + m.destination);
  }
  if (!spec.account.passwd_line.empty()) out.insert(out.end(), {"f:/etc/passwd", "f:/etc/group"});
  return out;
}

// Before the namespaces, and single-threaded: joining or starting a holder
// forks; validating the image for a private mount starts no thread.
ImageSource open_image(const ContainerSpec& spec) {
  ImageSource src;
  bool squashfs = spec.root.format == image::Format::Squashfs;
  if (spec.root.share) {
    log::Timer t("join mount holder");
    src.shared = acquire_shared_mount(spec.root.path, spec.root.name, spec.root.share_grace, !squashfs,
                                      [&] { return standard_points(spec); });
  } else if (squashfs) {
    src.server = image::SquashfsServer::open(spec.root.path);
  }
  return src;
}

// A directory image taken in a holder's namespace must be the directory
// the holder's key was made from: a name swapped meanwhile (for another
// directory, or a symlink to one) is refused, not followed into a tree
// other than the one the key names.
void check_shared_directory(int tree, const SharedMount& shared) {
  struct stat st {};
  if (::fstat(tree, &st) != 0) throw_errno("stat", shared.root);
  if (st.st_dev != shared.dev || st.st_ino != shared.ino)
    throw Error(fmt::format("the image directory {} was replaced while the container started; run it again",
                            shared.root));
}

// Everything up to the exec, with the host paths opened first: on return
// the calling process is in the container's namespaces, at its root.
// Returns the working directory the command is to start in.
std::string prepare_container(const ContainerSpec& spec, const ImageSource& src) {
  {
    log::Timer t("namespaces");
    if (src.shared) join_namespaces(src.shared->pidfd.get(), src.shared->pid);
    else enter_namespaces(spec.process.uid, spec.process.gid);
  }
  // Take every host path now: after unshare, because the kernel clones only
  // mounts of the caller's own mount namespace (check_mnt() in
  // fs/namespace.c), and before the staging tmpfs covers the host's /tmp.
  // A joined holder's image mount is taken the same way, as a directory.
  auto opened = open_sources(spec.mounts);
  std::vector<Fd> hook_exes = open_hooks(spec.hooks);
  Fd image_tree;
  if (src.server == nullptr) {
    const std::string& from = src.shared ? src.shared->root : spec.root.path;
    image_tree = clone_tree(AT_FDCWD, from.c_str());
    if (!image_tree) throw_errno("open image", from);
    if (src.shared && src.shared->directory) check_shared_directory(image_tree.get(), *src.shared);
  }
  mount_tmpfs(kStaging, "mode=0700");
  std::string root = kLowerDir;
  std::vector<Generated> generated;
  std::vector<Mount> found;  // from spec.inspectors; `opened` points into it
  size_t on_root = 0;        // the first mounts of `opened`: on the root itself
  {
    log::Timer t("root mount");
    mount_image(spec, src.server.get(), image_tree.get());
    Rootfs image(kLowerDir);
    // Binds that depend on what the image holds (MPI libraries), found
    // now that it is mounted; kept in mount order with the others.
    if (!spec.inspectors.empty()) {
      log::Timer ti("inspect image");
      MountedImage view(image);
      // As in order_mounts, a volume the user gave at the same place wins:
      // the same file of the image, whichever name (symlink) each used.
      std::set<std::pair<dev_t, ino_t>> bound;
      auto identity = [&](const std::string& path) -> std::optional<std::pair<dev_t, ino_t>> {
        auto fd = image.open(path);
        struct stat st {};
        if (!fd || ::fstatat(fd->get(), "", &st, AT_EMPTY_PATH) != 0) return std::nullopt;
        return std::pair{st.st_dev, st.st_ino};
      };
      std::vector<Mount> wanted;
      for (const auto& inspect : spec.inspectors)
        for (auto& m : inspect(view)) wanted.push_back(std::move(m));
      if (!wanted.empty())  // else nothing to compare: no lookups
        for (const auto& s : spec.mounts)
          if (auto id = identity(s.destination)) bound.insert(*id);
      // A path the image named (its ld.so.cache, its LD_LIBRARY_PATH) at or
      // below one of the other mounts is not the image's file once that
      // mount is in place, and its mount point would be made there, in a
      // host directory: left out, as is one that is not a plain absolute
      // path.
      auto covered = [&](const std::string& d) {
        return d[0] != '/' || has_dotdot(d) ||
               std::any_of(spec.mounts.begin(), spec.mounts.end(), [&](const Mount& s) {
                 return s.kind != Mount::Kind::Content && path_within(d, s.destination);
               });
      };
      for (auto& m : wanted) {
        m.destination = normalize_path(m.destination);
        if (covered(m.destination)) {
          log::debug(fmt::format("{}: under another mount, not the image's file: not bound", m.destination));
          continue;
        }
        auto id = identity(m.destination);
        if (!id || bound.count(*id) == 0) found.push_back(std::move(m));
      }
      for (auto& om : open_sources(found)) opened.push_back(std::move(om));
      std::stable_sort(opened.begin(), opened.end(), [](const OpenedMount& a, const OpenedMount& b) {
        return path_depth(a.mount->destination) < path_depth(b.mount->destination);
      });
    }
    generated = account_files(image, spec.account);
    auto points = plan_mount_points(image, opened, generated, on_root);
    // Hooks write into the root (ldconfig's /etc/ld.so.cache): the
    // overlay's upper layer takes their writes until they are done.
    bool hooks = !spec.hooks.empty();
    bool writable = spec.root.writable_tmpfs || hooks;
    // A private FUSE mount keeps the root overlay: the kernel sends every
    // ioctl on a FUSE file to the server, a round trip each (Python's
    // isatty() on each module it opens: 137 FUSE_IOCTLs per `import
    // numpy`), while overlayfs answers ENOTTY itself. A holder's mount is
    // under an overlay already (holder.cpp).
    bool split = !writable && !points.empty() && src.server == nullptr && overlay_directories(image, points);
    if (writable || (!points.empty() && !split)) {
      if (::mkdir(kLayerDir.c_str(), 0755) != 0) throw_errno("mkdir", kLayerDir);
      make_mount_points(kLayerDir, points);
      if (hooks) prepare_hook_layer(image, kLayerDir);
      mount_overlay(writable);
      root = kRootDir;
    }
  }
  Rootfs rootfs(root);
  std::string cwd;
  {
    log::Timer t("binds");
    for (size_t i = 0; i < on_root; ++i) apply_mount(rootfs, opened[i], static_cast<int>(i));
    for (size_t i = 0; i < generated.size(); ++i) mount_generated(rootfs, generated[i], static_cast<int>(i));
    for (size_t i = on_root; i < opened.size(); ++i) apply_mount(rootfs, opened[i], static_cast<int>(i));
    cwd = choose_cwd(rootfs, spec.process);
  }
  if (!spec.hooks.empty()) {
    log::Timer t("createContainer hooks");
    run_create_container_hooks(spec.hooks, hook_exes,
                               HookContext{root, std::string(kStaging) + "/bundle", !spec.root.writable_tmpfs, &spec.process});
    // Read-only again, as without hooks, unless --writable-tmpfs asked.
    if (!spec.root.writable_tmpfs) {
      Fd r = open_or_throw(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
      set_mount_flags_fd(r.get(), MountFlags{true, true, true}, root);
    }
  }
  pivot_into(root);
  return cwd;
}

pid_t start_container(const ContainerSpec& spec, const ImageSource& src, const SignalGuard& signals) {
  log::Timer total("container start");
  std::string cwd = prepare_container(spec, src);
  become_subreaper();
  return spawn(ExecRequest{spec.process.args, spec.process.env, cwd, signals.original()});
}

}  // namespace

int run(const ContainerSpec& spec) {
  ImageSource src = open_image(spec);
  // Signals are blocked before any thread exists, so that only the
  // supervisor's signalfd ever receives them.
  SignalGuard signals;
  pid_t child = start_container(spec, src, signals);
  return supervise(child, signals, src.holder_fd());
}

int keep(const ContainerSpec& spec, int ready_fd) {
  // Only this process holds it: its reader waits for the end (a holder or a
  // hook it starts must not keep it open).
  ::fcntl(ready_fd, F_SETFD, FD_CLOEXEC);
  ImageSource src = open_image(spec);
  SignalGuard signals;
  std::string cwd = prepare_container(spec, src);
  // "ok", then NUL-terminated fields: the working directory, then the
  // command's environment, one NAME=VALUE each.
  std::string ready = "ok\n" + cwd + '\0';
  for (const auto& e : spec.process.env) ready += e + '\0';
  write_all(ready_fd, ready.data(), ready.size(), "container keeper ready pipe");
  ::close(ready_fd);
  return wait_until_ended(signals, src.holder_fd());
}

}  // namespace ferry::runtime
