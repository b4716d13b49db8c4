// `ferry pull` (pull.hpp): manifest → config → layers, overlapped.
//
//   resolve_image() follows a tag or digest (and an index, to this
//   platform's manifest) to the config and layer list; documents are
//   checked against their digests as they arrive.
//   Downloads: JOBS workers take the missing blobs newest layer first (the
//   order the conversion wants them), each streaming into a temporary file
//   of the store while hashing; a dropped connection resumes with Range.
//   Verified blobs are renamed into ROOT/blobs/sha256/ at the end, with
//   the image.
//   Conversion: convert_layers() reads every layer through its own
//   descriptor of that file, waiting (LayerSource::wait) for bytes still
//   on their way, so decompression and SquashFS compression run while the
//   rest downloads.
//   Nothing is published until each blob's digest and each layer's diff_id
//   checked out; on any error the temporary files go and the store is as it was.
#include "ferry/registry/pull.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <exception>
#include <fmt/format.h>
#include <map>
#include <mutex>
#include <thread>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/core/log.hpp"
#include "ferry/core/sha256.hpp"
#include "progress.hpp"

namespace ferry::registry {
namespace {

using image::BlobDescriptor;

// One blob on its way into the store (or there already).
struct Blob {
  std::string digest;
  uint64_t size = 0;  // from the manifest (pull() refuses a layer without one)
  std::string path;  // the file to read: the store's, or the writer's while downloading
  std::unique_ptr<image::BlobWriter> writer;  // none when the store has the blob
  std::mutex mu;
  std::condition_variable cv;
  uint64_t have = 0;  // bytes written to `path`, for readers (under mu)
  bool done = false;
  bool cancelled = false;  // stopped because something else failed: not a cause
  std::exception_ptr error;

  void finish(std::exception_ptr e, bool stopped = false) {
    std::lock_guard lock(mu);
    done = true;
    cancelled = stopped;
    error = std::move(e);
    cv.notify_all();
  }
  // LayerSource::wait: true once more than CONSUMED bytes are there, or
  // all of them; false when the download failed.
  bool wait(uint64_t consumed, const std::atomic<bool>& stop) {
    std::unique_lock lock(mu);
    // The reader sniffs compression from its first read: give it a header's worth.
    uint64_t want = consumed == 0 ? std::min<uint64_t>(512, size) : consumed + 1;
    while (!cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return error || done || have >= want; }))
      if (stop) return false;
    return !error;
  }
};

// Thrown into a download to stop it (another blob or the conversion failed).
struct Cancelled {};

class Downloader {
 public:
  Downloader(Client& client, Progress& progress, std::atomic<bool>& cancel)
      : client_(client), progress_(progress), cancel_(cancel) {}

  // Fetches BLOB into its work file, verified; pull_image() keeps it once
  // everything checked out.
  void fetch(HttpSession& s, Blob& b) {
    std::string what = "layer " + b.digest;
    uint64_t skip = 0;  // bytes of a 200 answer to a Range request we have already
    auto make = [&] {
      HttpRequest r;
      r.url = "blobs/" + b.digest;
      uint64_t have;
      {
        std::lock_guard lock(b.mu);
        have = b.have;
      }
      if (have > 0) r.headers.push_back(fmt::format("Range: bytes={}-", have));
      bool first = true;
      r.on_body = [&b, &skip, this, have, first, what](long status, const char* p, size_t n) mutable {
        if (cancel_) throw Cancelled{};
        if (first) {
          first = false;
          skip = status == 206 ? 0 : have;  // no Range support: the whole blob again
          if (have > 0) log::debug(fmt::format("{}: resuming at byte {} ({})", what, have, status));
        }
        size_t drop = static_cast<size_t>(std::min<uint64_t>(skip, n));
        skip -= drop;
        p += drop;
        n -= drop;
        if (n == 0) return;
        if (b.have + n > b.size)
          throw Error(fmt::format("{}: larger than the {} bytes its manifest says", what, b.size));
        b.writer->write(p, n);
        {
          std::lock_guard lock(b.mu);
          b.have += n;
        }
        b.cv.notify_all();
        progress_.add(b.digest, n);
      };
      return r;
    };
    client_.send_ok(s, make, what);
    if (b.have != b.size)
      throw Error(fmt::format("{}: size mismatch (manifest says {}, got {})", what, b.size, b.have));
    if (const std::string& got = b.writer->digest(); got != b.digest)
      throw Error(fmt::format("{}: digest mismatch (got {})", what, got));
    progress_.done(b.digest);
  }

  // Runs JOBS workers over QUEUE (newest layer first); returns at once.
  void start(std::vector<Blob*> queue, int jobs) {
    queue_ = std::move(queue);
    int n = std::max(1, std::min<int>(jobs, static_cast<int>(queue_.size())));
    for (int i = 0; i < n; ++i) workers_.emplace_back([this] { work(); });
  }

  void join() {
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

 private:
  void work() {
    std::unique_ptr<HttpSession> s;
    for (;;) {
      size_t i = next_++;
      if (i >= queue_.size()) return;
      Blob& b = *queue_[i];
      try {
        if (!s) s = client_.session();
        fetch(*s, b);
        b.finish(nullptr);
      } catch (const Cancelled&) {
        b.finish(std::current_exception(), true);
      } catch (...) {
        cancel_ = true;  // one failed blob fails the pull: stop the others
        b.finish(std::current_exception());
      }
    }
  }

  Client& client_;
  Progress& progress_;
  std::atomic<bool>& cancel_;
  std::vector<Blob*> queue_;
  std::atomic<size_t> next_{0};
  std::vector<std::thread> workers_;
};

// Throws the first real download error. A cancelled download is never one:
// it followed another blob's error, or the conversion's own (which the
// caller throws then).
void rethrow_download_error(const std::vector<Blob*>& blobs) {
  for (Blob* b : blobs)
    if (b->error && !b->cancelled) std::rethrow_exception(b->error);
}

// The config of an image the store holds already (its SquashFS file and
// config there, the config matching DIGEST), or nullopt: pulling an image
// again then fetches its manifest and nothing else.
std::optional<std::string> stored_config(const image::Store& store, const std::string& digest) {
  image::StoredImage e = store.entry(digest);
  if (::access(e.sqfs.c_str(), F_OK) != 0 || ::access(e.config.c_str(), R_OK) != 0) return std::nullopt;
  try {
    std::string body = read_file(e.config);
    if (sha256_digest(body) == digest) return body;
  } catch (const Error&) {
  }
  return std::nullopt;
}

// The document fetcher for resolve_image(): manifests by tag or digest,
// configs from the store when it has them, else as blobs; each checked
// against its digest and size.
image::FetchDocument fetcher(Client& client, HttpSession& s, const image::Store& store, const image::Reference& ref) {
  return [&client, &s, &store, ref](const BlobDescriptor& d, bool manifest, const std::string& what) {
    image::Document doc;
    std::optional<std::string> kept;
    if (!manifest && d.digest.starts_with("sha256:")) kept = stored_config(store, d.digest);
    if (kept) {
      log::debug(fmt::format("{}: in the store already", what));
      doc.body = std::move(*kept);
      doc.digest = d.digest;
    } else if (manifest) {
      std::string want = d.digest.empty() ? ref.digest.value_or(ref.tag.value_or("latest")) : d.digest;
      HttpResponse r = client.get_manifest(s, want);
      doc.body = std::move(r.body);
      doc.media_type = r.header("content-type");
      doc.media_type = doc.media_type.substr(0, doc.media_type.find(';'));
      doc.digest = want.starts_with("sha256:") ? want : sha256_digest(doc.body);
    } else {
      auto make = [&] {
        HttpRequest r;
        r.url = "blobs/" + d.digest;
        return r;
      };
      HttpResponse r = client.send_ok(s, make, what);
      doc.body = std::move(r.body);
      doc.digest = sha256_digest(doc.body);
      if (doc.digest != d.digest) throw Error(fmt::format("{}: digest mismatch (got {})", what, doc.digest));
    }
    if (d.size && doc.body.size() != *d.size)
      throw Error(fmt::format("{}: size mismatch (manifest says {}, got {})", what, *d.size, doc.body.size()));
    return doc;
  };
}


}  // namespace

PullResult pull_image(const image::Reference& ref, image::Store& store, const PullOptions& options) {
  Client client(ref, options.client);
  auto session = client.session();
  image::ManifestImage img = image::resolve_image({}, options.platform, fetcher(client, *session, store, ref));
  PullResult result;
  result.manifest_digest = img.manifest_digest;
  std::string id = sha256_digest(img.config);
  if (store.add_existing(id, {ref})) {
    result.already = true;
    result.image = store.entry(id);
    return result;
  }

  // Layers: the config must list one diff_id per layer. Each is read
  // through a descriptor of its own: bound their number (Docker's overlay
  // driver stops at 128).
  if (img.layers.size() > 1000)
    throw Error(fmt::format("manifest {}: {} layers (ferry takes at most 1000)", img.manifest_digest, img.layers.size()));
  std::vector<image::SourceLayer> layers;
  for (const auto& d : img.layers) {
    // The size bounds the download (OCI requires it in every descriptor):
    // without it a registry could send without end.
    if (!d.size) throw Error(fmt::format("manifest {}: layer {} has no size", img.manifest_digest, d.digest));
    layers.push_back({"layer " + d.digest, {}, d.digest, d.size, {}});
  }
  image::attach_diff_ids(img.config, layers);

  // From here until add() lists them, no rmi may collect the blobs this
  // pull finds stored or publishes.
  FileLock claim = store.claim_blobs();
  // One Blob per distinct digest; cached ones are complete already.
  std::map<std::string, std::unique_ptr<Blob>> blobs;
  std::vector<Blob*> missing, all;
  for (size_t i = img.layers.size(); i-- > 0;) {  // newest first
    const BlobDescriptor& d = img.layers[i];
    auto& slot = blobs[d.digest];
    if (slot) continue;
    slot = std::make_unique<Blob>();
    Blob& b = *slot;
    b.digest = d.digest;
    b.size = *d.size;
    all.push_back(&b);
    std::string kept = store.blob_path(d.digest);
    struct stat st {};
    if (::stat(kept.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) == *d.size) {
      b.path = kept;
      b.done = true;
      b.have = static_cast<uint64_t>(st.st_size);
      continue;
    }
    b.writer = std::make_unique<image::BlobWriter>(store);
    b.path = b.writer->path();
    missing.push_back(&b);
  }

  // Every layer reads through its own descriptor, opened before any
  // download can rename its file.
  std::vector<Fd> readers;
  std::vector<image::LayerSource> sources;
  std::vector<Sha256> diff(layers.size());
  for (size_t i = img.layers.size(); i-- > 0;) {
    Blob* b = blobs[img.layers[i].digest].get();
    readers.emplace_back(::open(b->path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!readers.back()) throw_errno("open", b->path);
    image::LayerSource src;
    src.label = layers[i].label;
    src.fd = readers.back().get();
    if (b->writer)
      src.wait = [b](uint64_t consumed, const std::atomic<bool>& stop) { return b->wait(consumed, stop); };
    src.on_uncompressed = [h = &diff[i]](const void* p, size_t n) { h->update(p, n); };
    sources.push_back(std::move(src));
  }

  Progress progress(options.progress == PullOptions::Progress::kQuiet, "downloaded");
  for (Blob* b : missing) progress.blob(b->digest, b->size);
  std::atomic<bool> cancel{false};
  Downloader downloader(client, progress, cancel);
  downloader.start(missing, options.client.config.pull_jobs_or_default());

  TempFile out(store.temp_path());
  try {
    result.stats = image::convert_layers(sources, out.path(), options.convert);
  } catch (...) {
    cancel = true;
    for (Blob* b : missing) b->cv.notify_all();
    downloader.join();
    progress.stop();
    rethrow_download_error(all);  // the cause: a dropped or corrupt blob
    throw;
  }
  downloader.join();
  progress.stop();
  rethrow_download_error(all);
  for (size_t i = 0; i < layers.size(); ++i) {
    std::string got = diff[i].digest();
    if (got != layers[i].diff_id)
      throw Error(fmt::format("{}: diff_id mismatch (config says {}, got {})", layers[i].label, layers[i].diff_id, got));
  }
  for (Blob* b : missing) {
    result.downloaded += b->have;
    b->writer->keep();  // open readers keep reading the same file
  }
  result.image = store.add(out.path(), img.config, {ref}, img.manifest);
  out.release();  // moved into the store (or dropped there as a duplicate)
  return result;
}

}  // namespace ferry::registry
