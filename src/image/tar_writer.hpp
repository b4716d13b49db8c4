/// A small pax tar writer (POSIX.1-2001: ustar headers, plus an "x" record
/// set only where a ustar field is too small, and for xattrs), buffered, into
/// one descriptor. Internal to src/image: `dir:` import streams a directory
/// through it (source_dir.cpp), `ferry export --format tar` a SquashFS image
/// (export.cpp).
///
/// Written here rather than with libarchive's writer, whose static archive
/// pulls in every archive format libarchive knows (7zip needs bzip2, xar
/// needs libxml2: docs/dependencies.md).
///
/// The bytes depend only on the headers and data given: no user or group
/// names, no atime/ctime, whole-second mtimes, xattrs in the order given.
/// The caller owns the descriptor; TarOut never closes it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ferry::image {

/// One tar member's header.
struct TarHeader {
  std::string path, link;  // link: a symlink's target, or a hard link's first path
  char type = '0';         // '0' file, '1' hard link, '2' symlink, '3' char, '4' block, '5' dir, '6' fifo
  mode_t mode = 0;         // permission bits are kept (07777), the type bits ignored
  uint64_t uid = 0, gid = 0, size = 0, devmajor = 0, devminor = 0;
  int64_t mtime = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;  // written as SCHILY.xattr.NAME
};

class TarOut {
 public:
  /// Thrown by any write once the reading end has closed (EPIPE,
  /// ECONNRESET): the reader's own error, if any, is the one to report.
  struct ReaderGone {};

  /// Writes to FD: a socket with send(MSG_NOSIGNAL), so that a reader that
  /// gave up cannot kill ferry with SIGPIPE; anything else with write(2).
  /// WHAT names the output in error messages ("write WHAT: reason").
  TarOut(int fd, std::string what);
  TarOut(const TarOut&) = delete;
  TarOut& operator=(const TarOut&) = delete;

  /// One member's header; for a file, exactly h.size bytes of data() and
  /// then pad(h.size) must follow.
  void header(const TarHeader& h);
  void data(const void* p, size_t n);
  /// Zeros up to the next 512-byte block after SIZE bytes of data.
  void pad(uint64_t size);
  /// The two zero blocks that end an archive, then everything buffered.
  void finish();

 private:
  void flush();
  void block(char type, const std::string& name, const TarHeader& h, uint64_t size);

  int fd_;
  bool socket_;
  std::string what_;
  std::string buf_;
};

/// "LEN key=value\n", LEN counting itself (exposed for its test).
std::string pax_record(const std::string& key, const std::string& value);

}  // namespace ferry::image
