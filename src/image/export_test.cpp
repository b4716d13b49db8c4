// `ferry export --format tar` (export.cpp) and the pax writer under it
// (tar_writer.cpp): the tar read back by libarchive, an image that goes
// out as a tar and back in unchanged, and failures that leave nothing.
#include "ferry/image/export.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/image/flatten.hpp"
#include "layer_fixture.hpp"
#include "tar_writer.hpp"

namespace ferry::image {
namespace {

using namespace testing;

// One member as libarchive reads it.
struct Member {
  std::string path, link, hardlink, data;
  mode_t mode = 0;
  uint64_t uid = 0, gid = 0, rdevmajor = 0, rdevminor = 0;
  int64_t mtime = 0;
  std::map<std::string, std::string> xattrs;
};

std::vector<Member> read_tar(const std::string& path) {
  archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  EXPECT_EQ(archive_read_open_filename(a, path.c_str(), 10240), ARCHIVE_OK) << archive_error_string(a);
  std::vector<Member> out;
  archive_entry* ae;
  int rc;
  while ((rc = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
    Member m;
    m.path = archive_entry_pathname(ae);
    if (const char* s = archive_entry_symlink(ae)) m.link = s;
    if (const char* s = archive_entry_hardlink(ae)) m.hardlink = s;
    m.mode = archive_entry_mode(ae);
    m.uid = static_cast<uint64_t>(archive_entry_uid(ae));
    m.gid = static_cast<uint64_t>(archive_entry_gid(ae));
    m.mtime = archive_entry_mtime(ae);
    m.rdevmajor = archive_entry_rdevmajor(ae), m.rdevminor = archive_entry_rdevminor(ae);
    archive_entry_xattr_reset(ae);
    const char* name;
    const void* value;
    size_t size;
    while (archive_entry_xattr_next(ae, &name, &value, &size) == ARCHIVE_OK)
      m.xattrs[name] = std::string(static_cast<const char*>(value), size);
    char buf[65536];
    for (ssize_t n; (n = archive_read_data(a, buf, sizeof buf)) > 0;)
      m.data.append(buf, static_cast<size_t>(n));
    out.push_back(std::move(m));
  }
  EXPECT_EQ(rc, ARCHIVE_EOF) << archive_error_string(a);
  archive_read_free(a);
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> dir_names(const std::string& dir) {
  std::vector<std::string> out;
  for (auto& f : std::filesystem::directory_iterator(dir)) out.push_back(f.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(TarWriter, PaxRecordLengthCountsItself) {
  EXPECT_EQ(pax_record("path", "x"), "9 path=x\n");
  // Around the lengths where the count gains a digit (9/10, 99/100, 999/1000).
  for (size_t n = 0; n < 1100; ++n) {
    std::string r = pax_record("path", std::string(n, 'p'));
    EXPECT_EQ(std::to_string(r.size()), r.substr(0, r.find(' '))) << n;
  }
}

TEST(TarWriter, FieldsTooBigForUstarGoToPax) {
  Scratch s;
  const std::string long_path = std::string(60, 'a') + "/" + std::string(80, 'b');
  const std::string long_link = "/" + std::string(130, 't');
  {
    Fd f = open_or_throw(s.path("t.tar"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    TarOut out(f.get(), s.path("t.tar"));
    TarHeader h;
    h.path = long_path, h.mode = 0640, h.uid = 3000000, h.gid = 7, h.mtime = 1700000000, h.size = 5;
    h.xattrs = {{"security.capability", std::string("\x01\0\x02", 3)}, {"user.note", "hello"}};
    out.header(h);
    out.data("12345", 5);
    out.pad(5);
    auto member = [](std::string path, char type, std::string link, mode_t mode) {
      TarHeader m;
      m.path = std::move(path), m.type = type, m.link = std::move(link), m.mode = mode;
      return m;
    };
    out.header(member("lnk", '2', long_link, 0777));
    out.header(member("hard", '1', long_path, 0640));
    TarHeader dev = member("null", '3', "", 0666);
    dev.devmajor = 1, dev.devminor = 3;
    out.header(dev);
    out.finish();
  }
  EXPECT_EQ(std::filesystem::file_size(s.path("t.tar")) % 512, 0u);
  auto m = read_tar(s.path("t.tar"));
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].path, long_path);
  EXPECT_EQ(m[0].mode, S_IFREG | 0640);
  EXPECT_EQ(m[0].uid, 3000000u);
  EXPECT_EQ(m[0].gid, 7u);
  EXPECT_EQ(m[0].mtime, 1700000000);
  EXPECT_EQ(m[0].data, "12345");
  EXPECT_EQ(m[0].xattrs.at("security.capability"), std::string("\x01\0\x02", 3));
  EXPECT_EQ(m[0].xattrs.at("user.note"), "hello");
  EXPECT_EQ(m[1].link, long_link);
  EXPECT_EQ(m[2].hardlink, long_path);
  EXPECT_EQ(m[3].mode, S_IFCHR | 0666);
  EXPECT_EQ(m[3].rdevmajor, 1u);
  EXPECT_EQ(m[3].rdevminor, 3u);
}

// Compressible, so that a damaged block fails to decompress.
const std::string kBig = [] {
  std::string s;
  for (int i = 0; s.size() < 300000; ++i) s += "line " + std::to_string(i) + "\n";
  return s;
}();

// In the order export writes (file data and fragments are laid out in tar
// order), and without a root entry, as export writes none: so the image,
// root directory included, must survive the round trip byte for byte.
std::vector<E> tree() {
  E note = F("etc/note", "with xattrs\n");
  note.xattrs = {{"user.b", "2"}, {"user.a", "1"}};
  E owned = F("home/u/file", "mine\n", 0600);
  owned.uid = 1000, owned.gid = 100, owned.mtime = 1600000000;
  return {F(std::string(120, 'L'), "long name\n"),
          D("bin/"),
          F("bin/big", kBig, 0755),
          L("bin/sh", "big"),
          D("etc/"),
          L("etc/abs", "/etc/note"),
          L("etc/dangling", "../nowhere"),
          note,
          H("etc/note.hard", "etc/note"),
          N("fifo", 'p', 0644),
          D("home/"),
          D("home/u/", 0700),
          owned,
          D("z/"),
          H("z/big.hard", "bin/big")};
}

StoredImage converted(Scratch& s, const std::string& tar, const std::string& name) {
  convert_layers({Src(tar, tar)}, s.path(name));
  StoredImage img;
  img.id = "sha256:test";
  img.sqfs = s.path(name);
  return img;
}

TEST(Export, TarListsTheTreeAsDockerExportDoes) {
  Scratch s;
  write_layer(s.path("in.tar"), tree());
  StoredImage img = converted(s, s.path("in.tar"), "a.sqfs");
  export_image(img, s.path("out.tar"), ExportFormat::Tar);
  auto m = read_tar(s.path("out.tar"));
  std::vector<std::string> names;
  for (auto& e : m) names.push_back(e.path);
  // Depth first, names in byte order, no "./" and no root entry; a hard
  // link points at the first path of its inode in that order.
  EXPECT_EQ(names, (std::vector<std::string>{std::string(120, 'L'), "bin/", "bin/big", "bin/sh", "etc/",
                                             "etc/abs", "etc/dangling", "etc/note", "etc/note.hard", "fifo",
                                             "home/", "home/u/", "home/u/file", "z/", "z/big.hard"}));
  EXPECT_EQ(m[2].data, kBig);
  EXPECT_EQ(m[3].link, "big");
  EXPECT_EQ(m[6].link, "../nowhere");
  EXPECT_EQ(m[7].xattrs, (std::map<std::string, std::string>{{"user.a", "1"}, {"user.b", "2"}}));
  EXPECT_EQ(m[8].hardlink, "etc/note");
  EXPECT_EQ(m[9].mode, S_IFIFO | 0644);
  EXPECT_EQ(m[12].uid, 1000u);
  EXPECT_EQ(m[12].gid, 100u);
  EXPECT_EQ(m[12].mtime, 1600000000);
  EXPECT_EQ(m[12].mode, S_IFREG | 0644);  // a+r: the import made it readable
  EXPECT_EQ(m[14].hardlink, "bin/big");
  EXPECT_EQ(dir_names(s.dir()), (std::vector<std::string>{"a.sqfs", "in.tar", "out.tar"}));
}

TEST(Export, TarImportsBackToTheSameBytes) {
  Scratch s;
  write_layer(s.path("in.tar"), tree());
  StoredImage a = converted(s, s.path("in.tar"), "a.sqfs");
  export_image(a, s.path("a.tar"), ExportFormat::Tar);
  StoredImage b = converted(s, s.path("a.tar"), "b.sqfs");
  EXPECT_TRUE(slurp(a.sqfs) == slurp(b.sqfs)) << "the image changed on its way through a tar";
  export_image(b, s.path("b.tar"), ExportFormat::Tar);
  EXPECT_TRUE(slurp(s.path("a.tar")) == slurp(s.path("b.tar"))) << "the tar changed";
}

TEST(Export, DamagedImageLeavesNothing) {
  Scratch s;
  write_layer(s.path("in.tar"), tree());
  StoredImage img = converted(s, s.path("in.tar"), "a.sqfs");
  {
    // The data blocks follow the 96-byte superblock; the tables are at the end.
    Fd f = open_or_throw(img.sqfs, O_WRONLY);
    std::string junk(1024, '\x5a');
    ASSERT_EQ(::pwrite(f.get(), junk.data(), junk.size(), 96), static_cast<ssize_t>(junk.size()));
  }
  std::string what;
  try {
    export_image(img, s.path("out.tar"), ExportFormat::Tar);
  } catch (const Error& e) {
    what = e.what();
  }
  EXPECT_EQ(what, "read /bin/big in " + img.sqfs + ": Input/output error");
  EXPECT_EQ(dir_names(s.dir()), (std::vector<std::string>{"a.sqfs", "in.tar"}));
}

TEST(Export, UnwritableDestinationIsOneError) {
  Scratch s;
  write_layer(s.path("in.tar"), tree());
  StoredImage img = converted(s, s.path("in.tar"), "a.sqfs");
  std::string what;
  try {
    export_image(img, s.path("no/such/dir/out.tar"), ExportFormat::Tar);
  } catch (const Error& e) {
    what = e.what();
  }
  EXPECT_EQ(what.rfind("open " + s.path("no/such/dir/out.tar.tmp."), 0), 0u) << what;
  EXPECT_NE(what.find(": No such file or directory"), std::string::npos) << what;
}

}  // namespace
}  // namespace ferry::image
