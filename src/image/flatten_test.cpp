#include "ferry/image/flatten.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "ferry/core/error.hpp"
#include "layer_fixture.hpp"

namespace ferry::image {
namespace {

using namespace testing;
using Tree = std::map<std::string, Info>;

struct Result {
  ConvertStats stats;
  Tree tree;
};

// Writes `newest_first` as layer tars and converts them.
Result convert(Scratch& s, const std::vector<std::vector<E>>& newest_first, const std::string& comp = "none",
               const std::string& out = "img.sqfs", ConvertOptions opt = {}) {
  std::vector<LayerSource> src;
  for (size_t i = 0; i < newest_first.size(); ++i) {
    std::string p = s.path("layer" + std::to_string(i) + ".tar");
    write_layer(p, newest_first[i], comp);
    src.push_back(Src("layer " + std::to_string(i), p));
  }
  Result r;
  r.stats = convert_layers(src, s.path(out), opt);
  r.tree = read_image(s.path(out));
  return r;
}

std::string convert_error(const std::vector<std::vector<E>>& newest_first) {
  Scratch s;
  try {
    convert(s, newest_first);
  } catch (const Error& e) {
    // Nothing may be left behind: no image, no temporary file.
    for (auto& f : std::filesystem::directory_iterator(s.dir()))
      EXPECT_EQ(f.path().extension(), ".tar") << f.path();
    return e.what();
  }
  return "no error";
}

std::vector<std::string> paths(const Tree& t) {
  std::vector<std::string> out;
  for (auto& [p, i] : t) out.push_back(p);
  return out;
}

using V = std::vector<std::string>;

TEST(Convert, OneLayerKeepsContentsOwnersAndTimes) {
  Scratch s;
  E x = F("etc/x", "hello\n", 0640);
  x.uid = 1000, x.gid = 100, x.mtime = 1600000000;
  auto r = convert(s, {{D("etc/"), x, F("empty", "")}});
  EXPECT_EQ(paths(r.tree), (V{"", "empty", "etc", "etc/x"}));
  const Info& i = r.tree.at("etc/x");
  EXPECT_EQ(i.data, "hello\n");
  EXPECT_EQ(i.uid, 1000u);
  EXPECT_EQ(i.gid, 100u);
  EXPECT_EQ(i.mtime, 1600000000);
  EXPECT_EQ(i.mode, S_IFREG | 0644);  // 0640 + a+r
  EXPECT_EQ(r.tree.at("empty").data, "");
  EXPECT_EQ(r.stats.files, 2u);
  EXPECT_EQ(r.stats.dirs, 2u);  // root and etc
  EXPECT_EQ(r.stats.data_bytes, 6u);
}

TEST(Convert, NewerLayerWins) {
  Scratch s;
  auto r = convert(s, {{F("a", "new")}, {F("a", "old"), F("b", "lower")}});
  EXPECT_EQ(r.tree.at("a").data, "new");
  EXPECT_EQ(r.tree.at("b").data, "lower");
  EXPECT_EQ(r.stats.data_bytes, 8u);  // "old" was never written
}

TEST(Convert, LaterEntryOfTheSameLayerWins) {
  Scratch s;
  auto r = convert(s, {{F("a", "first"), F("a", "second")}});
  EXPECT_EQ(r.tree.at("a").data, "second");
}

TEST(Convert, WhiteoutHidesLowerFileAndDirectory) {
  Scratch s;
  auto r = convert(s, {{F(".wh.a", ""), D("d/"), F("d/.wh.sub", "")},
                       {F("a", "gone"), D("d/"), D("d/sub/"), F("d/sub/f", "gone"), F("d/keep", "k")}});
  EXPECT_EQ(paths(r.tree), (V{"", "d", "d/keep"}));
}

TEST(Convert, WhiteoutDoesNotHideItsOwnLayer) {
  Scratch s;
  auto r = convert(s, {{F("a", "same layer"), F(".wh.a", "")}, {F("a", "lower")}});
  EXPECT_EQ(r.tree.at("a").data, "same layer");
}

TEST(Convert, WhiteoutThenDirectoryInOneLayerReplacesTheDirectory) {
  Scratch s;
  auto r = convert(s, {{F(".wh.d", ""), D("d/"), F("d/new", "n")}, {D("d/"), F("d/old", "o")}});
  EXPECT_EQ(paths(r.tree), (V{"", "d", "d/new"}));
}

TEST(Convert, OpaqueDirectoryHidesLowerChildrenOnly) {
  Scratch s;
  auto r = convert(s, {{D("d/"), F("d/.wh..wh..opq", ""), F("d/mine", "m")},
                       {D("d/"), F("d/old", "o"), D("d/sub/"), F("d/sub/x", "x"), F("other", "kept")}});
  EXPECT_EQ(paths(r.tree), (V{"", "d", "d/mine", "other"}));
}

TEST(Convert, DirectoryReplacedByFileAndFileByDirectory) {
  Scratch s;
  auto r = convert(s, {{F("was_dir", "now a file"), D("was_file/"), F("was_file/inner", "i")},
                       {D("was_dir/"), F("was_dir/child", "c"), F("was_file", "old")}});
  EXPECT_EQ(paths(r.tree), (V{"", "was_dir", "was_file", "was_file/inner"}));
  EXPECT_TRUE(S_ISREG(r.tree.at("was_dir").mode));
  EXPECT_TRUE(S_ISDIR(r.tree.at("was_file").mode));
}

TEST(Convert, ImplicitDirectoriesTakeMetadataFromAnOlderEntry) {
  Scratch s;
  E d = D("a/", 0750);
  d.uid = 42, d.mtime = 1500000000;
  auto r = convert(s, {{F("a/b/c", "deep")}, {d}});
  EXPECT_EQ(r.tree.at("a").uid, 42u);
  EXPECT_EQ(r.tree.at("a").mtime, 1500000000);
  EXPECT_EQ(r.tree.at("a").mode, S_IFDIR | 0755);
  EXPECT_EQ(r.tree.at("a/b").mode, S_IFDIR | 0755);  // never named: defaults
  EXPECT_EQ(r.tree.at("a/b/c").data, "deep");
}

TEST(Convert, HardLinksInOneLayerAndAcrossLayers) {
  Scratch s;
  auto r = convert(s, {{H("bin/new-link", "bin/tool")},
                       {D("bin/"), F("bin/tool", "#!tool"), H("bin/same-layer", "bin/tool")}});
  const Info& t = r.tree.at("bin/tool");
  EXPECT_EQ(r.tree.at("bin/new-link").ino, t.ino);
  EXPECT_EQ(r.tree.at("bin/same-layer").ino, t.ino);
  EXPECT_EQ(t.nlink, 3u);
  EXPECT_EQ(r.tree.at("bin/new-link").data, "#!tool");
  EXPECT_EQ(r.stats.hardlinks, 2u);
  EXPECT_EQ(r.stats.files, 1u);
}

TEST(Convert, HardLinkFollowsTheFinalTreeAndDropsDanglingOnes) {
  Scratch s;
  auto r = convert(s, {{F("t", "replaced"), F(".wh.gone", "")},
                       {F("t", "old"), F("gone", "g"), H("l1", "t"), H("l2", "gone")}});
  EXPECT_EQ(r.tree.at("l1").data, "replaced");
  EXPECT_EQ(r.tree.count("l2"), 0u);
  EXPECT_EQ(r.stats.dropped_hardlinks, 1u);
}

TEST(Convert, SymlinksAreKeptAsTheyAre) {
  Scratch s;
  auto r = convert(s, {{L("abs", "/usr/bin/env"), L("rel", "../x/y"), L("dangling", "nowhere/at/all")}});
  EXPECT_EQ(r.tree.at("abs").data, "/usr/bin/env");
  EXPECT_EQ(r.tree.at("rel").data, "../x/y");
  EXPECT_EQ(r.tree.at("dangling").data, "nowhere/at/all");
  EXPECT_EQ(r.tree.at("abs").mode, S_IFLNK | 0777);
  EXPECT_EQ(r.stats.symlinks, 3u);
}

TEST(Convert, ModesAreMadeUsableWithoutSetuidOrNewWriteBits) {
  Scratch s;
  auto r = convert(s, {{F("suid", "x", 04755), F("sgid", "x", 02711), F("private", "x", 0600),
                        F("exec", "x", 0700), F("ro", "x", 0400), D("locked/", 0700), D("sticky/", 01777),
                        N("fifo", 'p', 0600)}});
  EXPECT_EQ(r.tree.at("suid").mode, S_IFREG | 0755);
  EXPECT_EQ(r.tree.at("sgid").mode, S_IFREG | 0755);
  EXPECT_EQ(r.tree.at("private").mode, S_IFREG | 0644);
  EXPECT_EQ(r.tree.at("exec").mode, S_IFREG | 0755);
  EXPECT_EQ(r.tree.at("ro").mode, S_IFREG | 0444);
  EXPECT_EQ(r.tree.at("locked").mode, S_IFDIR | 0755);
  EXPECT_EQ(r.tree.at("sticky").mode, S_IFDIR | 01777);
  EXPECT_EQ(r.tree.at("fifo").mode, S_IFIFO | 0644);
}

TEST(Convert, DeviceNodesAreDroppedCountedAndStillHideLowerPaths) {
  Scratch s;
  auto r = convert(s, {{N("dev/null", 'c'), N("dev/sda", 'b'), F("keep", "k")}, {D("dev/"), F("dev/null", "file")}});
  EXPECT_EQ(paths(r.tree), (V{"", "dev", "keep"}));
  EXPECT_EQ(r.stats.dropped_devices, 2u);
}

TEST(Convert, LongPaths) {
  Scratch s;
  std::string longp = std::string(90, 'd') + "/" + std::string(120, 'f');
  auto r = convert(s, {{F(longp, "long")}}, "gzip");
  EXPECT_EQ(r.tree.at(longp).data, "long");
}

// Read back two independent ways: through SquashfsReader (which builds the
// names itself: libsquashfuse 0.1.105's prefix table swaps security. and
// trusted.), and through squashfs-tools-ng's sqfs2tar and our LayerReader.
TEST(Convert, XattrsSquashfsCanHold) {
  if (system("command -v sqfs2tar >/dev/null 2>&1") != 0) GTEST_SKIP() << "sqfs2tar not installed";
  Scratch s;
  E x = F("x", "v");
  x.xattrs = {{"user.comment", "hi"}, {"security.capability", std::string("\x01\x00\x00\x02", 4)},
              {"trusted.t", "tt"}};
  auto r = convert(s, {{x}});
  EXPECT_EQ(r.tree.at("x").xattrs.at("user.comment"), "hi");
  EXPECT_EQ(r.tree.at("x").xattrs.at("security.capability"), std::string("\x01\x00\x00\x02", 4));
  EXPECT_EQ(r.tree.at("x").xattrs.at("trusted.t"), "tt");
  FILE* p = popen(("sqfs2tar " + s.path("img.sqfs")).c_str(), "r");
  ASSERT_TRUE(p);
  std::map<std::string, std::string> got;
  {
    LayerReader reader(Src("sqfs2tar", "", fileno(p)));
    LayerEntry e;
    while (reader.next(&e))
      if (e.path == "x")
        for (auto& [k, v] : e.xattrs) got[k] = v;
    reader.finish();
  }
  ASSERT_EQ(pclose(p), 0);
  EXPECT_EQ(got, (std::map<std::string, std::string>{{"security.capability", std::string("\x01\x00\x00\x02", 4)},
                                                      {"trusted.t", "tt"},
                                                      {"user.comment", "hi"}}));
}

TEST(Convert, PlainGzipAndZstdLayersTogether) {
  Scratch s;
  std::vector<LayerSource> src;
  const char* comps[] = {"none", "gzip", "zstd"};
  for (int i = 0; i < 3; ++i) {
    std::string p = s.path(std::string("l") + std::to_string(i));
    write_layer(p, {F(std::string("from-") + comps[i], comps[i])}, comps[i]);
    src.push_back(Src(p, p));
  }
  auto st = convert_layers(src, s.path("img.sqfs"));
  Tree t = read_image(s.path("img.sqfs"));
  EXPECT_EQ(t.at("from-gzip").data, "gzip");
  EXPECT_EQ(t.at("from-zstd").data, "zstd");
  EXPECT_EQ(t.at("from-none").data, "none");
  EXPECT_GT(st.bytes_in, 0u);
}

TEST(Convert, LargeFilesRoundTrip) {
  Scratch s;
  std::mt19937 rng(7);
  std::string rnd(3 * 128 * 1024 + 4321, '\0');
  for (auto& c : rnd) c = static_cast<char>(rng());
  std::string zeros(1 << 20, '\0');  // sparse blocks
  auto r = convert(s, {{F("random", rnd), F("zeros", zeros), F("dup", rnd)}}, "gzip");
  EXPECT_EQ(r.tree.at("random").data, rnd);
  EXPECT_EQ(r.tree.at("dup").data, rnd);
  EXPECT_EQ(r.tree.at("zeros").data, zeros);
  EXPECT_LT(r.stats.image_bytes, 2 * rnd.size());  // "dup" was deduplicated
}

// Hostile layers (STYLE.md 16: keep hostile fixtures).
TEST(Convert, DotDotIsRejectedNamingLayerAndPath) {
  EXPECT_EQ(convert_error({{F("../etc/passwd", "x")}}), "layer 0: ../etc/passwd: path has a \"..\" component");
  EXPECT_EQ(convert_error({{F("ok", "x")}, {F("a/../../b", "x")}}),
            "layer 1: a/../../b: path has a \"..\" component");
}

TEST(Convert, AbsolutePathIsRejected) {
  EXPECT_EQ(convert_error({{F("/abs/path", "x")}}), "layer 0: /abs/path: path is absolute");
  EXPECT_EQ(convert_error({{H("l", "/etc/shadow")}}), "layer 0: l: hard link target /etc/shadow is absolute");
}

TEST(Convert, WritingThroughASymlinkOfTheSameLayerIsRejected) {
  EXPECT_EQ(convert_error({{L("link", "/etc"), F("link/passwd", "root::0:0")}}),
            "layer 0: link/passwd: link is a symlink in the same layer; refusing to write through it");
}

TEST(Convert, SymlinkInANewerLayerShadowsOlderPathsBelowIt) {
  Scratch s;
  auto r = convert(s, {{L("link", "/etc")}, {D("link/"), F("link/passwd", "x")}});
  EXPECT_EQ(paths(r.tree), (V{"", "link"}));
  EXPECT_TRUE(S_ISLNK(r.tree.at("link").mode));
}

// Newest first, the older symlink cannot be followed: the newer layer's path
// is taken literally, and `link` becomes a directory holding `passwd`.
TEST(Convert, FileBelowAnOlderSymlinkIsTakenLiterally) {
  Scratch s;
  auto r = convert(s, {{F("link/passwd", "x")}, {L("link", "/etc"), D("etc/")}});
  EXPECT_EQ(paths(r.tree), (V{"", "etc", "link", "link/passwd"}));
  EXPECT_TRUE(S_ISDIR(r.tree.at("link").mode));
}

TEST(Convert, IsReproducibleWhateverTheThreads) {
  Scratch s;
  std::mt19937 rng(1);
  std::vector<E> l0, l1;
  for (int i = 0; i < 120; ++i) {
    std::string body(rng() % 200000, '\0');
    for (auto& c : body) c = static_cast<char>('a' + rng() % 7);
    (i % 2 ? l0 : l1).push_back(F("d" + std::to_string(i % 13) + "/f" + std::to_string(i), body));
  }
  l0.push_back(H("d0/link", "d1/f1"));
  auto read = [&](const std::string& p) {
    std::ifstream f(s.path(p), std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  convert(s, {l0, l1}, "none", "a.sqfs", {3, 1});
  convert(s, {l0, l1}, "none", "b.sqfs", {3, 8});
  convert(s, {l0, l1}, "none", "c.sqfs", {3, 0});
  EXPECT_EQ(read("a.sqfs"), read("b.sqfs"));
  EXPECT_EQ(read("a.sqfs"), read("c.sqfs"));
  EXPECT_EQ(read("a.sqfs").size() % 4096, 0u);
}

TEST(Convert, ReplacesTheTargetAtomically) {
  Scratch s;
  std::ofstream(s.path("img.sqfs")) << "old";
  convert(s, {{F("a", "x")}});
  EXPECT_EQ(read_image(s.path("img.sqfs")).at("a").data, "x");
  try {
    convert(s, {{F("../bad", "x")}});
  } catch (const Error&) {
  }
  EXPECT_EQ(read_image(s.path("img.sqfs")).at("a").data, "x");  // untouched
  for (auto& f : std::filesystem::directory_iterator(s.dir()))
    EXPECT_EQ(f.path().string().find(".tmp."), std::string::npos) << f.path();
}

TEST(Convert, BadZstdLevelIsRefused) {
  Scratch s;
  EXPECT_THROW(convert(s, {{F("a", "x")}}, "none", "img.sqfs", {99, 0}), Error);
}

// An independent reader: squashfs-tools' unsquashfs lists the same tree.
TEST(Convert, UnsquashfsAgrees) {
  if (system("unsquashfs -h >/dev/null 2>&1") != 0 && system("command -v unsquashfs >/dev/null") != 0)
    GTEST_SKIP() << "unsquashfs not installed";
  Scratch s;
  convert(s, {{F("bin/sh", "#!", 0755), L("lib", "usr/lib"), H("bin/sh2", "bin/sh")}, {D("usr/lib/")}});
  std::string cmd = "unsquashfs -lln -d '' " + s.path("img.sqfs");
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_TRUE(p);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ASSERT_EQ(pclose(p), 0) << out;
  auto line_of = [&](const std::string& tail) {
    size_t end = out.find(tail + "\n");
    if (end == std::string::npos) return std::string("(missing)");
    size_t start = out.rfind('\n', end);
    return out.substr(start + 1, end - start - 1 + tail.size());
  };
  EXPECT_EQ(line_of(" /bin/sh").substr(0, 14), "-rwxr-xr-x 0/0") << out;
  EXPECT_EQ(line_of(" /bin/sh2").substr(0, 14), "-rwxr-xr-x 0/0") << out;
  EXPECT_EQ(line_of(" /lib -> usr/lib").substr(0, 14), "lrwxrwxrwx 0/0") << out;
  EXPECT_EQ(line_of(" /usr/lib").substr(0, 14), "drwxr-xr-x 0/0") << out;
}

}  // namespace
}  // namespace ferry::image
