// Tests for the format half of the SquashFS server (SquashfsReader),
// without FUSE: blocks, fragments, holes, lookups, listings, xattrs, threads.
#include "squashfs_test_fixture.hpp"

#include <thread>

namespace ferry::image::sqfs_test {
namespace {

TEST_F(SquashfsServerTest, ReaderReadsBlocksFragmentsAndHoles) {
  auto r = SquashfsReader::open(image_);
  // Odd chunk sizes make reads straddle blocks and end inside the fragment.
  EXPECT_EQ(read_all(*r, resolve(*r, "big.bin"), 100000), pseudo_random(kBigSize, 1));
  EXPECT_EQ(read_all(*r, resolve(*r, "big.bin"), 1 << 20), pseudo_random(kBigSize, 1));
  EXPECT_EQ(read_all(*r, resolve(*r, "sparse.bin"), 77777), sparse_content());
  EXPECT_EQ(read_all(*r, resolve(*r, "small.txt"), 4096), "hello, ferry\n");
  EXPECT_EQ(read_all(*r, resolve(*r, "empty.txt"), 4096), "");
  EXPECT_EQ(read_all(*r, resolve(*r, "many/" + many_name(599)), 4096), "599\n");
  ReadResult past_end;
  EXPECT_EQ(r->read(resolve(*r, "big.bin"), kBigSize + 10, 4096, &past_end), 0);
  EXPECT_EQ(past_end.size, 0u);
}

// trim() (an idle mount holder) drops the block cache, also while a reply
// still points into a block and while other threads read; reads after it
// decompress again and get the same bytes.
TEST_F(SquashfsServerTest, ReaderTrimKeepsRepliesAndBytes) {
  auto r = SquashfsReader::open(image_);
  InodeRef big = resolve(*r, "big.bin");
  ReadResult held;
  ASSERT_EQ(r->read(big, 0, 200000, &held), 0);
  std::string before = read_all(*r, big, 100000);
  r->trim();
  std::string in_held;
  for (const auto& v : held.iov) in_held.append(static_cast<const char*>(v.iov_base), v.iov_len);
  EXPECT_EQ(in_held, pseudo_random(kBigSize, 1).substr(0, 200000));
  std::thread reader([&] { EXPECT_EQ(read_all(*r, big, 65536), pseudo_random(kBigSize, 1)); });
  for (int i = 0; i < 20; ++i) r->trim();
  reader.join();
  EXPECT_EQ(read_all(*r, big, 100000), before);
}

TEST_F(SquashfsServerTest, ReaderLookupAndStat) {
  auto r = SquashfsReader::open(image_);
  struct stat a {
  }, b{}, s{};
  EXPECT_EQ(resolve(*r, "hard-a", &a), resolve(*r, "hard-b", &b));
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_nlink, 2u);
  resolve(*r, "exec.sh", &s);
  EXPECT_EQ(s.st_mode, S_IFREG | 0755);
  resolve(*r, "secret", &s);
  EXPECT_EQ(s.st_mode, S_IFREG | 0600);
  resolve(*r, "big.bin", &s);
  EXPECT_EQ(static_cast<size_t>(s.st_size), kBigSize);
  InodeRef ref = 0;
  EXPECT_EQ(r->lookup(r->root(), "missing", &ref, &s), ENOENT);
  EXPECT_EQ(r->lookup(r->root(), "small.tx", &ref, &s), ENOENT);  // a prefix is no match
  EXPECT_EQ(r->lookup(resolve(*r, "many"), "file-with", &ref, &s), ENOENT);
  EXPECT_EQ(r->lookup(resolve(*r, "small.txt"), "x", &ref, &s), ENOTDIR);
  EXPECT_EQ(r->lookup(r->root(), std::string(300, 'x'), &ref, &s), ENAMETOOLONG);
  std::string target;
  EXPECT_EQ(r->readlink(resolve(*r, "link-rel"), &target), 0);
  EXPECT_EQ(target, "sub/deeper/nested.txt");
  EXPECT_EQ(r->readlink(resolve(*r, "small.txt"), &target), EINVAL);
}

TEST_F(SquashfsServerTest, ReaderReaddirResumesFromCookies) {
  auto r = SquashfsReader::open(image_);
  InodeRef many = resolve(*r, "many");
  std::vector<std::string> names;
  off_t cookie = 0;
  for (bool more = true; more;) {  // stop after 7 entries each time, as a full buffer would
    int taken = 0;
    more = false;
    ASSERT_EQ(r->readdir(many, cookie, false,
                         [&](const DirEntry& e) {
                           if (taken == 7) {
                             more = true;
                             return false;
                           }
                           names.emplace_back(e.name);
                           cookie = e.next;
                           ++taken;
                           return true;
                         }),
              0);
  }
  ASSERT_EQ(names.size(), kManyFiles + 2u);
  EXPECT_EQ(names[0], ".");
  EXPECT_EQ(names[1], "..");
  for (int i = 0; i < kManyFiles; ++i) EXPECT_EQ(names[i + 2], many_name(i));
}

TEST_F(SquashfsServerTest, ReaderReaddirWithAttributes) {
  auto r = SquashfsReader::open(image_);
  struct Seen {
    std::string name;
    InodeRef ref;
    bool has_st;
    struct stat st;
  };
  std::vector<Seen> seen;
  // The callback runs under the reader's lock: collect, then compare.
  ASSERT_EQ(r->readdir(r->root(), 0, true,
                       [&](const DirEntry& e) {
                         Seen one{e.name, e.ref, e.st != nullptr, {}};
                         if (e.st != nullptr) one.st = *e.st;
                         seen.push_back(one);
                         return true;
                       }),
            0);
  ASSERT_EQ(seen.size(), 15u);
  EXPECT_FALSE(seen[0].has_st);  // "."
  EXPECT_FALSE(seen[1].has_st);  // ".."
  for (size_t i = 2; i < seen.size(); ++i) {
    const Seen& e = seen[i];
    struct stat want {};
    EXPECT_EQ(resolve(*r, e.name, &want), e.ref) << e.name;
    EXPECT_TRUE(e.has_st) << e.name;
    EXPECT_EQ(e.st.st_ino, want.st_ino) << e.name;
    EXPECT_EQ(e.st.st_mode, want.st_mode) << e.name;
    EXPECT_EQ(e.st.st_size, want.st_size) << e.name;
  }
}

// Eight threads share one reader, as the FUSE workers do (run under
// -fsanitize=thread to check the locking).
TEST_F(SquashfsServerTest, ReaderIsThreadSafe) {
  auto r = SquashfsReader::open(image_);
  const std::string big = pseudo_random(kBigSize, 1);
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kManyFiles; i += 8) {
        InodeRef ref = 0;
        struct stat st {};
        if (r->lookup(resolve(*r, "many"), many_name(i), &ref, &st) != 0 ||
            read_all(*r, ref, 4096) != std::to_string(i) + "\n")
          ++bad;
        const size_t off = (static_cast<size_t>(i) * 7919 * 13) % kBigSize;
        ReadResult res;
        if (r->read(resolve(*r, "big.bin"), off, 200000, &res) != 0) ++bad;
        std::string got;
        for (const iovec& v : res.iov) got.append(static_cast<const char*>(v.iov_base), v.iov_len);
        if (got != big.substr(off, 200000)) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad, 0);
}

int threads_named(const std::string& comm) {
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc/self/task")) {
    if (slurp((e.path() / "comm").string()) == comm + "\n") ++n;
  }
  return n;
}

// A cold read queues the blocks after it for the read-ahead helpers, and
// reads that straddle two cold blocks hand one to them. Whatever the
// interleaving (a reader takes a queued block itself, waits for one a
// helper has claimed, or finds it cached), the bytes must be the file's;
// and the helpers must not exist before the first read, because the
// runtime unshares a user namespace after open(), which a multi-threaded
// process may not do.
TEST_F(SquashfsServerTest, ReaderReadAheadKeepsBytesAndStartsNoThreadEarly) {
  const std::string big = pseudo_random(kBigSize, 1);
  const std::string sparse = sparse_content();
  for (int round = 0; round < 3; ++round) {
    auto r = SquashfsReader::open(image_);
    EXPECT_EQ(threads_named("ferry-sqfs-ra"), 0);
    const InodeRef big_ref = resolve(*r, "big.bin");
    const InodeRef sparse_ref = resolve(*r, "sparse.bin");
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        // Scattered 4 KiB and 200 KB reads, as page faults and readahead
        // windows make them; every thread visits the same blocks in a
        // different order.
        for (int i = 0; i < 40; ++i) {
          const size_t chunk = (i % 3 == 0) ? 200000 : 4096;
          const size_t off = (static_cast<size_t>(i * 7 + t * 13) * 131071) % kBigSize;
          ReadResult res;
          if (r->read(big_ref, off, chunk, &res) != 0) ++bad;
          std::string got;
          for (const iovec& v : res.iov) got.append(static_cast<const char*>(v.iov_base), v.iov_len);
          if (got != big.substr(off, chunk)) ++bad;
        }
        if (read_all(*r, sparse_ref, 65536) != sparse) ++bad;
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(bad, 0) << "round " << round;
    EXPECT_GE(threads_named("ferry-sqfs-ra"), 1);
    // One more cold read queues jobs; destroying the reader at once must
    // join the helpers cleanly with work still queued.
    auto fresh = SquashfsReader::open(image_);
    ReadResult res;
    EXPECT_EQ(fresh->read(resolve(*fresh, "big.bin"), 0, 4096, &res), 0);
  }
  EXPECT_EQ(threads_named("ferry-sqfs-ra"), 0);
}

TEST_F(SquashfsServerTest, ReaderXattrs) {
  if (!xattr_) GTEST_SKIP() << "no user xattrs on this file system";
  auto r = SquashfsReader::open(image_);
  ASSERT_TRUE(r->has_xattrs());
  InodeRef small = resolve(*r, "small.txt");
  std::string value, names;
  EXPECT_EQ(r->getxattr(small, "user.ferry", &value), 0);
  EXPECT_EQ(value, "hello");
  EXPECT_EQ(r->getxattr(small, "user.ferr", &value), ENODATA);
  EXPECT_EQ(r->getxattr(resolve(*r, "big.bin"), "user.ferry", &value), ENODATA);
  EXPECT_EQ(r->listxattr(small, &names), 0);
  EXPECT_NE(names.find(std::string("user.ferry\0", 11)), std::string::npos);
  EXPECT_NE(names.find(std::string("user.ferry.long\0", 16)), std::string::npos);
}

TEST_F(SquashfsServerTest, OpenRejectsWhatIsNotSquashfs) {
  std::string text = dir_ + "/not-an-image.txt";
  write(text, std::string(4096, 'x'));
  try {
    SquashfsServer::open(text);
    FAIL() << "open() accepted a text file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not a SquashFS"), std::string::npos) << e.what();
  }
  try {
    SquashfsServer::open(dir_ + "/absent.sqfs");
    FAIL() << "open() accepted a missing file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("absent.sqfs"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(is_squashfs_file(text));
  EXPECT_FALSE(is_squashfs_file(dir_ + "/absent.sqfs"));
  EXPECT_TRUE(is_squashfs_file(image_));
}

// ---- the mounted server, in a child process ------------------------------

/// Failures collected in the child and sent to the parent over a pipe.

}  // namespace
}  // namespace ferry::image::sqfs_test
