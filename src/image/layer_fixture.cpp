#include "layer_fixture.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <zlib.h>

#include <cstdlib>
#include <functional>
#include <stdexcept>

#include "squashfs_reader.hpp"

namespace ferry::image::testing {

namespace {

void check(archive* a, int r, const char* what) {
  if (r < ARCHIVE_WARN) throw std::runtime_error(std::string(what) + ": " + archive_error_string(a));
}

mode_t type_of(char t) {
  switch (t) {
    case 'd': return AE_IFDIR;
    case 'l': return AE_IFLNK;
    case 'c': return AE_IFCHR;
    case 'b': return AE_IFBLK;
    case 'p': return AE_IFIFO;
    default: return AE_IFREG;
  }
}

}  // namespace

void write_layer(const std::string& path, const std::vector<E>& entries, const std::string& compression) {
  archive* a = archive_write_new();
  check(a, archive_write_set_format_pax_restricted(a), "format");
  if (compression == "gzip") check(a, archive_write_add_filter_gzip(a), "gzip");
  if (compression == "zstd") check(a, archive_write_add_filter_zstd(a), "zstd");
  check(a, archive_write_open_filename(a, path.c_str()), "open");
  for (const E& e : entries) {
    archive_entry* ae = archive_entry_new();
    archive_entry_set_pathname(ae, e.path.c_str());
    mode_t perm = e.mode ? e.mode : (e.type == 'd' ? 0755 : e.type == 'l' ? 0777 : 0644);
    archive_entry_set_uid(ae, e.uid);
    archive_entry_set_gid(ae, e.gid);
    archive_entry_set_mtime(ae, e.mtime, 0);
    if (e.type == 'h') {
      archive_entry_set_filetype(ae, AE_IFREG);
      archive_entry_set_perm(ae, perm);
      archive_entry_set_hardlink(ae, e.data.c_str());
      archive_entry_set_size(ae, 0);
    } else {
      archive_entry_set_filetype(ae, type_of(e.type));
      archive_entry_set_perm(ae, perm);
      if (e.type == 'l') archive_entry_set_symlink(ae, e.data.c_str());
      if (e.type == 'c' || e.type == 'b') archive_entry_set_rdev(ae, makedev(1, 3));
      archive_entry_set_size(ae, e.type == 'f' ? static_cast<la_int64_t>(e.data.size()) : 0);
    }
    for (auto& [k, v] : e.xattrs) archive_entry_xattr_add_entry(ae, k.c_str(), v.data(), v.size());
    check(a, archive_write_header(a, ae), "header");
    if (e.type == 'f' && !e.data.empty())
      if (archive_write_data(a, e.data.data(), e.data.size()) < 0) check(a, ARCHIVE_FATAL, "data");
    archive_entry_free(ae);
  }
  check(a, archive_write_close(a), "close");
  archive_write_free(a);
}

std::map<std::string, Info> read_image(const std::string& sqfs) {
  auto r = SquashfsReader::open(sqfs);
  std::map<std::string, Info> out;
  std::function<void(InodeRef, const std::string&)> walk = [&](InodeRef ref, const std::string& path) {
    struct stat st {};
    if (r->stat(ref, &st) != 0) throw std::runtime_error("stat " + path);
    Info& in = out[path];
    in.mode = st.st_mode;
    in.uid = st.st_uid;
    in.gid = st.st_gid;
    in.mtime = st.st_mtime;
    in.ino = st.st_ino;
    in.nlink = st.st_nlink;
    std::string names;
    if (r->listxattr(ref, &names) == 0)
      for (size_t i = 0; i < names.size();) {
        std::string n = names.c_str() + i;
        i += n.size() + 1;
        r->getxattr(ref, n, &in.xattrs[n]);
      }
    if (S_ISLNK(st.st_mode)) r->readlink(ref, &in.data);
    if (S_ISREG(st.st_mode)) {
      for (uint64_t off = 0;;) {
        ReadResult rr;
        if (r->read(ref, off, 1 << 20, &rr) != 0) throw std::runtime_error("read " + path);
        if (rr.size == 0) break;
        for (auto& v : rr.iov) in.data.append(static_cast<const char*>(v.iov_base), v.iov_len);
        off += rr.size;
      }
    }
    if (!S_ISDIR(st.st_mode)) return;
    std::vector<std::pair<std::string, InodeRef>> kids;
    r->readdir(ref, 0, true, [&](const DirEntry& d) {
      std::string n = d.name;
      if (n != "." && n != "..") kids.emplace_back(n, d.ref);
      return true;
    });
    for (auto& [n, k] : kids) walk(k, path.empty() ? n : path + "/" + n);
  };
  walk(r->root(), "");
  return out;
}

std::string gzip_member(const std::string& data) {
  z_stream z{};
  if (deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2");
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("deflate");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace ferry::image::testing
