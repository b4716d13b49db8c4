// Reading layer tars with libarchive (include/ferry/image/layer.hpp).
//
// libarchive parses the tar stream; it never decompresses. A compressed
// layer is decoded on a thread of its own (inflate.hpp: gzip through ISA-L,
// zstd through libzstd): the thread reads the source (with its digest hook,
// on_compressed), decodes straight into 1 MiB chunks and hands them to the
// tar parser through a short queue; the parser's thread hashes each chunk for
// the diff_id (on_uncompressed) as it takes it. Reading, decoding and both
// hashes thus run beside the parsing and the SquashFS writer instead of
// before them, and the diff_id's hash, the larger of the two, is not on the
// decoding thread, which alone cannot be split (docs/design/convert.md).
#include "ferry/image/layer.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fmt/format.h>
#include <mutex>
#include <thread>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/core/log.hpp"
#include "inflate.hpp"

namespace ferry::image {

namespace {

constexpr size_t kReadSize = 256 * 1024;
constexpr size_t kChunkSize = 1 << 20;  // decompressed bytes handed over at a time
constexpr size_t kChunks = 4;           // chunks in flight between the two threads

// Decompressed bytes on their way from the decoding thread to the tar parser.
struct Chunk {
  std::unique_ptr<unsigned char[]> data;
  size_t size = 0;
};

struct ArchiveDeleter {
  void operator()(archive* a) const noexcept { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveDeleter>;

// The formats OCI does not allow, by their magic numbers (xz, bzip2).
Compression sniff(const unsigned char* p, size_t n, const std::string& label) {
  auto starts = [&](std::initializer_list<unsigned char> m) {
    return n >= m.size() && std::equal(m.begin(), m.end(), p);
  };
  if (starts({0xfd, '7', 'z', 'X', 'Z', 0x00}))
    throw Error(label + ": xz-compressed layers are not supported (OCI allows gzip and zstd)");
  if (starts({'B', 'Z', 'h'}))
    throw Error(label + ": bzip2-compressed layers are not supported (OCI allows gzip and zstd)");
  return detect_compression(p, n);
}

std::string archive_message(archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unknown libarchive error";
}

}  // namespace

struct LayerReader::Impl {
  const LayerSource src;  // a copy: a temporary LayerSource may be passed
  Fd owned;
  int fd = -1;
  Compression comp = Compression::kNone;
  std::vector<unsigned char> buf = std::vector<unsigned char>(kReadSize);
  size_t pending = 0;  // sniffed bytes not yet handed to libarchive
  uint64_t bytes_read = 0;
  bool source_eof = false;
  std::unique_ptr<Decoder> decoder;  // null for uncompressed layers
  ArchivePtr inner;                  // tar
  archive_entry* entry = nullptr;
  uint64_t entry_size = 0;

  // The decompression thread and what it shares with the parser.
  std::thread inflater;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Chunk> full, spare;  // decompressed, and free
  size_t chunks = 0;              // allocated so far
  Chunk current;                  // the chunk libarchive's tar reader holds
  bool inflated = false;          // the thread is done (end or error)
  std::string inflate_error;  // empty: the stream ended cleanly
  std::atomic<bool> stop{false};

  explicit Impl(const LayerSource& s) : src(s) {}
  ~Impl() { stop_inflater(); }

  void stop_inflater() {
    if (!inflater.joinable()) return;
    stop = true;
    cv.notify_all();
    inflater.join();
  }

  // The thread: decompress the whole stream into chunks. A damaged
  // stream, a failed read, or a hook that throws (a full disk under a kept
  // blob) ends it with that message.
  void inflate_all() {
    try {
      inflate_chunks();
    } catch (const std::exception& e) {
      std::lock_guard lock(mu);
      inflate_error = e.what();
      if (inflate_error.empty()) inflate_error = "decompression failed";
      inflated = true;
      cv.notify_all();
    }
  }

  void inflate_chunks() {
    const unsigned char* in = nullptr;  // source bytes not yet decoded, in buf
    size_t in_left = 0;
    for (;;) {
      Chunk chunk;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return stop || !spare.empty() || chunks < kChunks; });
        if (stop) return;
        if (!spare.empty()) {
          chunk = std::move(spare.front());
          spare.pop_front();
        } else {
          ++chunks;
          chunk.data = std::make_unique_for_overwrite<unsigned char[]>(kChunkSize);
        }
      }
      chunk.size = 0;
      bool end = false;
      while (chunk.size < kChunkSize && !stop) {
        if (in_left == 0 && !source_eof) {
          const void* p;
          ssize_t n = read_source(&p);
          if (n < 0) throw Error(std::string("read: ") + std::strerror(errno));
          in = static_cast<const unsigned char*>(p);
          in_left = static_cast<size_t>(n);
        }
        Decoder::Step st = decoder->decode(in, in_left, chunk.data.get() + chunk.size, kChunkSize - chunk.size);
        // A call that only finds trailing bytes after the last member
        // consumes nothing and ends the stream: that is progress too.
        if (in_left > 0 && st.consumed == 0 && st.produced == 0 && !decoder->ended())  // better than a spin
          throw Error(std::string(decoder->name()) + ": the decoder made no progress");
        in += st.consumed;
        in_left -= st.consumed;
        chunk.size += st.produced;
        if (decoder->ended() || (source_eof && in_left == 0 && st.produced == 0)) {
          decoder->finish();  // throws when the stream stopped inside a member or frame
          end = true;
          break;
        }
      }
      std::lock_guard lock(mu);
      if (chunk.size > 0) full.push_back(std::move(chunk));
      if (end) inflated = true;
      cv.notify_all();
      if (inflated || stop) return;
    }
  }

  // One read(2) into buf, or a pread(2) inside the source's window.
  ssize_t read_some() {
    bool window = src.offset != 0 || src.length != LayerSource::kToEnd;
    size_t want = buf.size();
    if (window) want = static_cast<size_t>(std::min<uint64_t>(want, src.length - bytes_read));
    if (want == 0) return 0;
    if (src.wait && !src.wait(bytes_read, stop)) {
      errno = EIO;  // the download failed; its error is the one reported
      return -1;
    }
    ssize_t n;
    do n = window ? ::pread(fd, buf.data(), want, static_cast<off_t>(src.offset + bytes_read))
                  : ::read(fd, buf.data(), want);
    while (n < 0 && errno == EINTR);
    if (n == 0 && window && src.length != LayerSource::kToEnd) {
      errno = EIO;  // the window runs past the end of the file
      return -1;
    }
    return n;
  }

  // Reads the next chunk of the source into buf; 0 at end of file.
  ssize_t read_source(const void** out) {
    if (pending > 0) {
      *out = buf.data();
      return static_cast<ssize_t>(std::exchange(pending, 0));
    }
    ssize_t n = read_some();
    if (n < 0) return -1;
    if (n == 0) source_eof = true;
    bytes_read += static_cast<uint64_t>(n);
    if (n > 0 && src.on_compressed) src.on_compressed(buf.data(), static_cast<size_t>(n));
    *out = buf.data();
    return n;
  }

  // The diff_id's hook over a decompressed chunk, in stream order: on the
  // thread that takes the chunks from the queue, outside the lock.
  void hash(const Chunk& c) const {
    if (src.on_uncompressed) src.on_uncompressed(c.data.get(), c.size);
  }

  void fail(archive* a, const char* what) const {
    throw Error(src.label + ": " + what + ": " + archive_message(a));
  }

  // A read callback of libarchive's: FN's result, or -1 with the message of
  // what it threw (a hook's error: a full disk under a kept blob), as
  // nothing may unwind through libarchive's C frames.
  template <typename Fn>
  static la_ssize_t guarded(archive* a, Fn fn) {
    try {
      return fn();
    } catch (const std::exception& e) {
      archive_set_error(a, EIO, "%s", e.what());
    } catch (...) {
      archive_set_error(a, EIO, "a layer hook failed");
    }
    return -1;
  }

  static la_ssize_t read_plain(archive* a, void* client, const void** out) {
    return guarded(a, [&]() -> la_ssize_t {
      auto* im = static_cast<Impl*>(client);
      ssize_t n = im->read_source(out);
      if (n < 0) {
        archive_set_error(a, errno, "read: %s", std::strerror(errno));
        return -1;
      }
      if (n > 0 && im->src.on_uncompressed) im->src.on_uncompressed(*out, static_cast<size_t>(n));
      return n;
    });
  }

  // The inner (tar) reader's source: the decompression thread's chunks.
  static la_ssize_t read_decompressed(archive* a, void* client, const void** out) {
    return guarded(a, [&] { return take_chunk(a, static_cast<Impl*>(client), out); });
  }

  static la_ssize_t take_chunk(archive* a, Impl* im, const void** out) {
    std::unique_lock lock(im->mu);
    if (im->current.data) im->spare.push_back(std::move(im->current));  // libarchive is done with it
    im->current = {};
    im->cv.notify_all();
    im->cv.wait(lock, [&] { return !im->full.empty() || im->inflated; });
    if (!im->full.empty()) {
      im->current = std::move(im->full.front());
      im->full.pop_front();
      lock.unlock();
      im->hash(im->current);
      *out = im->current.data.get();
      return static_cast<la_ssize_t>(im->current.size);
    }
    if (im->inflate_error.empty()) return 0;
    archive_set_error(a, EIO, "%s", im->inflate_error.c_str());
    return -1;
  }
};


// Magic numbers: RFC 1952 (gzip), RFC 8878 (zstd).
Compression detect_compression(const void* data, size_t n) {
  auto* p = static_cast<const unsigned char*>(data);
  if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b) return Compression::kGzip;
  if (n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd) return Compression::kZstd;
  return Compression::kNone;
}

LayerReader::LayerReader(const LayerSource& source) : impl_(std::make_unique<Impl>(source)) {
  Impl& im = *impl_;
  if (!source.path.empty()) {
    im.owned = open_or_throw(source.path, O_RDONLY | O_CLOEXEC);
    im.fd = im.owned.get();
  } else {
    im.fd = source.fd;
  }
  // Sniff the magic from the first chunk, which is then replayed to libarchive.
  const void* first = nullptr;
  ssize_t n = im.read_source(&first);
  if (n < 0) throw Error(errno, "read", source.label);
  im.pending = static_cast<size_t>(n);
  im.comp = sniff(im.buf.data(), im.pending, source.label);

  im.inner.reset(archive_read_new());
  if (!im.inner) throw Error(ENOMEM, "archive_read_new", source.label);
  archive_read_support_format_tar(im.inner.get());  // ustar, pax, GNU
  if (im.comp == Compression::kNone) {
    if (archive_read_open(im.inner.get(), &im, nullptr, Impl::read_plain, nullptr) != ARCHIVE_OK)
      im.fail(im.inner.get(), "open tar");
    return;
  }
  im.decoder = make_decoder(im.comp);
  log::debug(source.label + ": " + im.decoder->name());
  im.inflater = std::thread([&im] { im.inflate_all(); });
  if (archive_read_open(im.inner.get(), &im, nullptr, Impl::read_decompressed, nullptr) != ARCHIVE_OK)
    im.fail(im.inner.get(), "open tar");
}

LayerReader::~LayerReader() = default;

Compression LayerReader::compression() const noexcept { return impl_->comp; }
uint64_t LayerReader::bytes_read() const noexcept { return impl_->bytes_read; }

namespace {

EntryType entry_type(archive_entry* e, const std::string& label, const std::string& path) {
  if (archive_entry_hardlink(e)) return EntryType::kHardlink;
  switch (archive_entry_filetype(e)) {
    case AE_IFREG: return EntryType::kFile;
    case AE_IFDIR: return EntryType::kDir;
    case AE_IFLNK: return EntryType::kSymlink;
    case AE_IFCHR: return EntryType::kCharDev;
    case AE_IFBLK: return EntryType::kBlockDev;
    case AE_IFIFO: return EntryType::kFifo;
    default: throw Error(label + ": " + path + ": unsupported tar entry type");
  }
}

uint32_t clamp_id(la_int64_t id) {
  return id < 0 || id > 0xFFFFFFFE ? 65534u : static_cast<uint32_t>(id);  // nobody
}

}  // namespace

bool LayerReader::next(LayerEntry* out) {
  Impl& im = *impl_;
  int r = archive_read_next_header(im.inner.get(), &im.entry);
  if (r == ARCHIVE_EOF) {
    im.entry = nullptr;
    return false;
  }
  if (r < ARCHIVE_WARN) im.fail(im.inner.get(), "read tar header");
  archive_entry* e = im.entry;
  const char* p = archive_entry_pathname(e);
  if (!p) p = archive_entry_pathname_utf8(e);
  if (!p) throw Error(im.src.label + ": tar entry without a path name");
  out->path = p;
  out->type = entry_type(e, im.src.label, out->path);
  out->mode = archive_entry_perm(e) & 07777;
  out->uid = clamp_id(archive_entry_uid(e));
  out->gid = clamp_id(archive_entry_gid(e));
  out->mtime = archive_entry_mtime(e);
  out->size = out->type == EntryType::kFile ? static_cast<uint64_t>(archive_entry_size(e)) : 0;
  im.entry_size = out->size;
  const char* t = out->type == EntryType::kHardlink  ? archive_entry_hardlink(e)
                  : out->type == EntryType::kSymlink ? archive_entry_symlink(e)
                                                     : nullptr;
  out->link_target = t ? t : "";
  out->xattrs.clear();
  if (archive_entry_xattr_reset(e) > 0) {
    const char* name;
    const void* value;
    size_t size;
    // libarchive's pax writer stores each xattr twice (LIBARCHIVE.xattr and
    // SCHILY.xattr) and its reader reports both: keep one, the last.
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
      std::string v(static_cast<const char*>(value), size);
      auto same = std::find_if(out->xattrs.begin(), out->xattrs.end(), [&](auto& kv) { return kv.first == name; });
      if (same != out->xattrs.end())
        same->second = std::move(v);
      else
        out->xattrs.emplace_back(name, std::move(v));
    }
  }
  return true;
}

uint64_t LayerReader::read_body(const ByteSink& sink, uint64_t& holes_left) {
  Impl& im = *impl_;
  static const char zeros[64 * 1024] = {};
  uint64_t pos = 0;
  auto fill_to = [&](uint64_t end) {
    if (end <= pos) return;
    if (end - pos > holes_left) {
      const char* p = archive_entry_pathname(im.entry);
      throw Error(fmt::format("{}: {}: sparse file whose holes pass ferry's limit of {} TiB of holes per image",
                              im.src.label, p ? p : "?", kSparseHoleLimit >> 40));
    }
    holes_left -= end - pos;
    while (pos < end) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(end - pos, sizeof zeros));
      sink(zeros, n);
      pos += n;
    }
  };
  for (;;) {
    const void* data = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    int r = archive_read_data_block(im.inner.get(), &data, &size, &offset);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) im.fail(im.inner.get(), "read file data");
    fill_to(static_cast<uint64_t>(offset));  // a sparse hole
    if (size > 0) sink(data, size);
    pos += size;
  }
  fill_to(im.entry_size);  // a hole at the end
  return pos;
}

void LayerReader::finish() {
  Impl& im = *impl_;
  if (im.decoder) {
    // The tar reader stops at the end-of-archive blocks; the thread goes on
    // decompressing the rest: take (and hash) its chunks until it ends.
    {
      std::unique_lock lock(im.mu);
      for (;;) {
        while (!im.full.empty()) {
          Chunk c = std::move(im.full.front());
          im.full.pop_front();
          lock.unlock();
          im.hash(c);
          lock.lock();
          im.spare.push_back(std::move(c));
          im.cv.notify_all();
        }
        if (im.inflated) break;
        im.cv.wait(lock, [&] { return !im.full.empty() || im.inflated; });
      }
    }
    im.inflater.join();
    if (!im.inflate_error.empty()) throw Error(im.src.label + ": decompress: " + im.inflate_error);
  }
  while (!im.source_eof) {
    const void* data;
    ssize_t n = im.read_source(&data);
    if (n < 0) throw Error(errno, "read", im.src.label);
    if (n > 0 && !im.decoder && im.src.on_uncompressed) im.src.on_uncompressed(data, static_cast<size_t>(n));
  }
}

}  // namespace ferry::image
