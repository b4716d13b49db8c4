#include "tar_writer.hpp"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "ferry/core/error.hpp"

namespace ferry::image {
namespace {

constexpr size_t kBlock = 512;
constexpr size_t kFlushAt = 256 * 1024;
constexpr char kZeros[2 * kBlock] = {};

void octal(char* field, size_t width, uint64_t v) {
  std::string s = fmt::format("{:0{}o}", v, width - 1);
  std::memcpy(field, s.data(), std::min(s.size(), width - 1));
}

bool is_socket(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

}  // namespace

std::string pax_record(const std::string& key, const std::string& value) {
  size_t base = key.size() + value.size() + 3, len = base + 1;
  while (std::to_string(len).size() + base != len) ++len;
  return std::to_string(len) + " " + key + "=" + value + "\n";
}

TarOut::TarOut(int fd, std::string what) : fd_(fd), socket_(is_socket(fd)), what_(std::move(what)) {}

// The ustar fields (POSIX.1-2001 "ustar Interchange Format"); numbers that
// do not fit are clamped here and carried exactly by the pax record set.
void TarOut::block(char type, const std::string& name, const TarHeader& h, uint64_t size) {
  char b[kBlock] = {};
  std::memcpy(b, name.data(), std::min<size_t>(name.size(), 100));
  octal(b + 100, 8, h.mode & 07777);
  octal(b + 108, 8, std::min<uint64_t>(h.uid, 07777777));
  octal(b + 116, 8, std::min<uint64_t>(h.gid, 07777777));
  octal(b + 124, 12, std::min<uint64_t>(size, 077777777777));
  octal(b + 136, 12, static_cast<uint64_t>(std::clamp<int64_t>(h.mtime, 0, 077777777777)));
  b[156] = type;
  std::memcpy(b + 157, h.link.data(), std::min<size_t>(h.link.size(), 100));
  std::memcpy(b + 257, "ustar", 6);  // magic, NUL included
  std::memcpy(b + 263, "00", 2);     // version
  octal(b + 329, 8, h.devmajor);
  octal(b + 337, 8, h.devminor);
  std::memset(b + 148, ' ', 8);
  unsigned sum = 0;
  for (char c : b) sum += static_cast<unsigned char>(c);
  octal(b + 148, 7, sum);
  data(b, kBlock);
}

void TarOut::header(const TarHeader& h) {
  std::string pax;
  if (h.path.size() > 100) pax += pax_record("path", h.path);
  if (h.link.size() > 100) pax += pax_record("linkpath", h.link);
  if (h.size > 077777777777) pax += pax_record("size", std::to_string(h.size));
  if (h.uid > 07777777) pax += pax_record("uid", std::to_string(h.uid));
  if (h.gid > 07777777) pax += pax_record("gid", std::to_string(h.gid));
  for (const auto& [k, v] : h.xattrs) pax += pax_record("SCHILY.xattr." + k, v);
  if (!pax.empty()) {
    block('x', "././@PaxHeader", TarHeader{}, pax.size());
    data(pax.data(), pax.size());
    pad(pax.size());
  }
  block(h.type, h.path, h, h.size);
}

void TarOut::data(const void* p, size_t n) {
  buf_.append(static_cast<const char*>(p), n);
  if (buf_.size() >= kFlushAt) flush();
}

void TarOut::pad(uint64_t size) { data(kZeros, (kBlock - size % kBlock) % kBlock); }

void TarOut::finish() {
  data(kZeros, 2 * kBlock);
  flush();
}

void TarOut::flush() {
  for (size_t done = 0; done < buf_.size();) {
    const char* p = buf_.data() + done;
    size_t left = buf_.size() - done;
    ssize_t n = socket_ ? ::send(fd_, p, left, MSG_NOSIGNAL) : ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) throw ReaderGone{};
    if (n < 0) throw_errno(socket_ ? "send" : "write", what_);
    done += static_cast<size_t>(n);
  }
  buf_.clear();
}

}  // namespace ferry::image
