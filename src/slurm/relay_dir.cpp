// The batch step's Slurm relay directory: made and removed by the plugin
// (relay_dir.hpp).
#include "relay_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

namespace ferry_spank {
namespace {

std::string g_name;  // the directory's name in /tmp
int g_dir = -1;      // the directory, opened when made
int g_tmp = -1;      // /tmp

}  // namespace

std::vector<std::string> relay_args() {
  remove_relay_dir();
  char path[] = "/tmp/ferry-relay-XXXXXX";
  if (::mkdtemp(path) == nullptr) return {};
  g_tmp = ::open("/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);
  g_dir = ::open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  g_name = path + 5;
  if (g_tmp < 0 || g_dir < 0) {
    ::rmdir(path);
    remove_relay_dir();
    return {};
  }
  return {"--slurm-relay", path};
}

void remove_relay_dir() {
  if (g_dir >= 0) {
    ::unlinkat(g_dir, "relay.sock", 0);
    // Only if /tmp/NAME is still the directory we made (a user may have
    // renamed it and put something else there).
    struct stat made {
    }, now{};
    if (g_tmp >= 0 && ::fstat(g_dir, &made) == 0 &&
        ::fstatat(g_tmp, g_name.c_str(), &now, AT_SYMLINK_NOFOLLOW) == 0 && made.st_dev == now.st_dev &&
        made.st_ino == now.st_ino)
      ::unlinkat(g_tmp, g_name.c_str(), AT_REMOVEDIR);
    ::close(g_dir);
  }
  if (g_tmp >= 0) ::close(g_tmp);
  g_dir = g_tmp = -1;
  g_name.clear();
}

}  // namespace ferry_spank
