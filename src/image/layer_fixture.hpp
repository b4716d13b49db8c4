/// Test fixtures for the conversion tests: layer tars written with
/// libarchive's writer, and a reader that lists a SquashFS file back through
/// SquashfsReader (libsquashfuse: a reader independent of the writer).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ferry/image/layer.hpp"
#include "test_temp_dir.hpp"

namespace ferry::image::testing {

/// One tar entry to write. type: 'f' file, 'd' dir, 'l' symlink, 'h' hard
/// link, 'c' char device, 'b' block device, 'p' fifo.
struct E {
  std::string path;
  char type = 'f';
  std::string data;  // file body, or link target
  mode_t mode = 0;   // 0: 0644 for files, 0755 for dirs
  uint32_t uid = 0, gid = 0;
  int64_t mtime = 1700000000;
  std::vector<std::pair<std::string, std::string>> xattrs = {};
};

inline E F(std::string p, std::string body, mode_t mode = 0) { return {std::move(p), 'f', std::move(body), mode}; }
inline E D(std::string p, mode_t mode = 0) { return {std::move(p), 'd', {}, mode}; }
inline E L(std::string p, std::string target) { return {std::move(p), 'l', std::move(target)}; }
inline E H(std::string p, std::string target) { return {std::move(p), 'h', std::move(target)}; }

inline E N(std::string p, char type, mode_t mode = 0) { return {std::move(p), type, {}, mode}; }

inline LayerSource Src(std::string label, std::string path = {}, int fd = -1) {
  LayerSource s;
  s.label = std::move(label);
  s.path = std::move(path);
  s.fd = fd;
  return s;
}

/// Writes a pax tar of `entries` to `path`; compression: "none", "gzip", "zstd".
void write_layer(const std::string& path, const std::vector<E>& entries, const std::string& compression = "none");

/// What a SquashFS file holds at one path.
struct Info {
  mode_t mode = 0;  // with the type bits
  uid_t uid = 0;
  gid_t gid = 0;
  time_t mtime = 0;
  ino_t ino = 0;
  nlink_t nlink = 0;
  std::string data;  // file contents or symlink target
  std::map<std::string, std::string> xattrs;
};

/// Every path in the image ("" is the root), read with SquashfsReader.
std::map<std::string, Info> read_image(const std::string& sqfs);

/// DATA as one gzip member (zlib, level 6).
std::string gzip_member(const std::string& data);

/// A temporary directory removed at destruction.
class Scratch {
 public:
  std::string path(const std::string& name) const { return tmp_.path() + "/" + name; }
  const std::string& dir() const { return tmp_.path(); }

 private:
  test::TempDir tmp_{"convert"};
};

}  // namespace ferry::image::testing
