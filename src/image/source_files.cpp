// The files of an image source: a directory, or the members of an
// uncompressed tar read in place (include/ferry/image/source.hpp).
//
// A `docker save` or OCI archive is a plain tar whose big members are layer
// blobs. Rather than extract it, or decompress-and-read it once per layer
// in its own order, ferry indexes its headers once (POSIX.1-2001 ustar + pax
// "x" records, GNU "L"/"K" long names) and hands each layer to LayerReader
// as an offset/length window of the archive file. A compressed archive
// (`docker save | gzip`) cannot be read in place and is refused with a hint.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fmt/format.h>
#include <map>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/image/source.hpp"

namespace ferry::image {
namespace {

constexpr uint64_t kBlock = 512;

void pread_all(int fd, void* buf, size_t size, uint64_t offset, const std::string& path) {
  auto* p = static_cast<char*>(buf);
  while (size > 0) {
    ssize_t n = ::pread(fd, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("read", path);
    if (n == 0) throw Error(fmt::format("{}: truncated archive", path));
    p += n;
    offset += static_cast<uint64_t>(n);
    size -= static_cast<size_t>(n);
  }
}

// "a/./b/../c" -> "a/c"; "" when the name climbs out of the root.
std::string normalise(std::string_view name) {
  std::vector<std::string_view> parts;
  while (!name.empty()) {
    size_t slash = name.find('/');
    std::string_view part = name.substr(0, slash);
    name = slash == std::string_view::npos ? std::string_view{} : name.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (parts.empty()) return {};
      parts.pop_back();
    } else {
      parts.push_back(part);
    }
  }
  std::string out;
  for (auto p : parts) out.append(out.empty() ? "" : "/").append(p);
  return out;
}

class DirectoryFiles : public SourceFiles {
 public:
  explicit DirectoryFiles(std::string dir) : dir_(std::move(dir)) {}
  std::optional<FileWindow> find(std::string_view name) const override {
    std::string rel = normalise(name);
    if (rel.empty()) return std::nullopt;
    std::string path = dir_ + "/" + rel;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
    return FileWindow{path, 0, static_cast<uint64_t>(st.st_size)};
  }

 private:
  std::string dir_;
};

struct Member {
  char type = '0';  // '0' file, '1' hard link, '2' symlink, '5' directory…
  uint64_t offset = 0, size = 0;
  std::string link;
};

// Numeric header fields: octal text, or base-256 when the high bit is set.
uint64_t header_number(const char* p, size_t n) {
  uint64_t v = 0;
  if (static_cast<unsigned char>(p[0]) & 0x80) {
    for (size_t i = 1; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
  }
  for (size_t i = 0; i < n && p[i]; ++i)
    if (p[i] >= '0' && p[i] <= '7') v = v * 8 + static_cast<uint64_t>(p[i] - '0');
  return v;
}

std::string header_string(const char* p, size_t n) { return std::string(p, strnlen(p, n)); }

bool checksum_ok(const unsigned char* h) {
  uint64_t sum = 0;
  for (size_t i = 0; i < kBlock; ++i) sum += (i >= 148 && i < 156) ? ' ' : h[i];
  return sum == header_number(reinterpret_cast<const char*>(h) + 148, 8);
}

// pax records "LEN key=value\n" (POSIX.1-2001 pax, "Extended Header").
void parse_pax(const std::string& data, std::map<std::string, std::string>& out) {
  size_t pos = 0;
  while (pos < data.size()) {
    size_t space = data.find(' ', pos);
    if (space == std::string::npos) return;
    size_t len = std::strtoull(data.c_str() + pos, nullptr, 10);
    if (len == 0 || pos + len > data.size()) return;
    std::string rec = data.substr(space + 1, pos + len - space - 2);
    size_t eq = rec.find('=');
    if (eq != std::string::npos) out[rec.substr(0, eq)] = rec.substr(eq + 1);
    pos += len;
  }
}

class TarFiles : public SourceFiles {
 public:
  explicit TarFiles(std::string path);
  std::optional<FileWindow> find(std::string_view name) const override;

 private:
  void index();
  void check_magic(const unsigned char* h, bool whole = true) const;

  std::string path_;
  Fd fd_;
  uint64_t file_size_ = 0;
  std::map<std::string, Member, std::less<>> members_;
};

TarFiles::TarFiles(std::string path) : path_(std::move(path)) {
  fd_ = open_or_throw(path_, O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0) throw_errno("stat", path_);
  if (!S_ISREG(st.st_mode)) throw Error(fmt::format("{}: not a regular file", path_));
  file_size_ = static_cast<uint64_t>(st.st_size);
  index();
}

void TarFiles::check_magic(const unsigned char* h, bool whole) const {
  if ((h[0] == 0x1f && h[1] == 0x8b) || (h[0] == 0x28 && h[1] == 0xb5 && h[2] == 0x2f && h[3] == 0xfd))
    throw Error(fmt::format("{}: a compressed archive; ferry reads archives in place: decompress it first",
                            path_));
  if (!whole || !checksum_ok(h)) throw Error(fmt::format("{}: not a tar archive", path_));
}

void TarFiles::index() {
  unsigned char h[kBlock];
  std::map<std::string, std::string> pax;
  std::string long_name, long_link;
  for (uint64_t pos = 0;;) {
    if (pos + kBlock > file_size_) {  // no end-of-archive blocks
      if (pos == 0 && file_size_ >= 4) pread_all(fd_.get(), h, 4, 0, path_), check_magic(h, false);
      throw Error(fmt::format("{}: truncated archive", path_));
    }
    pread_all(fd_.get(), h, kBlock, pos, path_);
    if (std::all_of(h, h + kBlock, [](unsigned char c) { return c == 0; })) return;  // end of archive
    check_magic(h);
    const char* c = reinterpret_cast<const char*>(h);
    uint64_t size = header_number(c + 124, 12);
    if (auto s = pax.find("size"); s != pax.end()) size = std::strtoull(s->second.c_str(), nullptr, 10);
    char type = c[156] ? c[156] : '0';
    uint64_t data = pos + kBlock;
    if (type != '1' && type != '2' && type != '5' && data + size > file_size_)
      throw Error(fmt::format("{}: truncated archive", path_));
    if (type == 'x' || type == 'L' || type == 'K') {
      std::string body(size, '\0');
      pread_all(fd_.get(), body.data(), size, data, path_);
      if (type == 'x')
        parse_pax(body, pax);
      else
        (type == 'L' ? long_name : long_link) = body.substr(0, body.find('\0'));
    } else if (type != 'g') {
      std::string name = header_string(c, 100);
      if (std::string_view(c + 257, 5) == "ustar" && c[345]) name = header_string(c + 345, 155) + "/" + name;
      if (!long_name.empty()) name = long_name;
      if (auto p = pax.find("path"); p != pax.end()) name = p->second;
      std::string link = !long_link.empty() ? long_link : header_string(c + 157, 100);
      if (auto p = pax.find("linkpath"); p != pax.end()) link = p->second;
      members_[normalise(name)] = Member{type == '7' ? '0' : type, data, size, link};
      pax.clear(), long_name.clear(), long_link.clear();
    }
    if (type == '2' || type == '5') size = 0;
    pos = data + (size + kBlock - 1) / kBlock * kBlock;
  }
}

std::optional<FileWindow> TarFiles::find(std::string_view want) const {
  std::string name = normalise(want);
  for (int hops = 0; hops < 16 && !name.empty(); ++hops) {
    auto it = members_.find(name);
    if (it == members_.end()) return std::nullopt;
    const Member& m = it->second;
    if (m.type == '0') return FileWindow{path_, m.offset, m.size};
    if (m.type == '1') {
      name = normalise(m.link);  // hard links name the target from the root
    } else if (m.type == '2') {
      size_t slash = name.rfind('/');
      std::string dir = slash == std::string::npos ? "" : name.substr(0, slash + 1);
      name = m.link.starts_with('/') ? std::string{} : normalise(dir + m.link);
    } else {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace

std::string SourceFiles::read(std::string_view name, const std::string& what, uint64_t max) const {
  auto w = find(name);
  if (!w) throw Error(what == name ? fmt::format("{}: missing", what) : fmt::format("{}: missing ({})", what, name));
  if (w->length > max) throw Error(fmt::format("{}: too large ({} bytes)", what, w->length));
  Fd fd = open_or_throw(w->path, O_RDONLY | O_CLOEXEC);
  std::string out(w->length, '\0');
  pread_all(fd.get(), out.data(), out.size(), w->offset, w->path);
  return out;
}

std::unique_ptr<SourceFiles> open_directory(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) throw_errno("open", dir);
  if (!S_ISDIR(st.st_mode)) throw Error(fmt::format("{}: not a directory", dir));
  return std::make_unique<DirectoryFiles>(dir);
}

std::unique_ptr<SourceFiles> open_tar(const std::string& path) { return std::make_unique<TarFiles>(path); }

}  // namespace ferry::image
