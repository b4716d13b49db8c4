// `ferry push` (push.hpp), distribution-spec "Push":
//   for each blob (layers, then the config), in parallel:
//     HEAD blobs/D              200: the registry has it, skip
//     POST blobs/uploads/?mount=D&from=R   201: mounted from R, done
//     POST blobs/uploads/       202 + Location: a new upload session
//     PUT  Location?digest=D    the whole blob (small blobs), or
//     PATCH Location … then PUT ?digest=D   in chunks (Content-Range)
//   then PUT manifests/TAG with the manifest's own media type.
// A blob whose upload fails is started again from a new session, up to
// the retry count; the manifest goes last, so a failed push publishes nothing.
#include "ferry/registry/push.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <atomic>
#include <exception>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <thread>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/core/path.hpp"
#include "ferry/core/sha256.hpp"
#include "progress.hpp"

namespace ferry::registry {
namespace {

struct Blob {
  std::string digest, path, media_type;
  uint64_t size = 0;
  std::string config;  // the config's bytes (it is not in blobs/)
};

std::string with_query(const std::string& location, const std::string& query) {
  return location + (location.find('?') == std::string::npos ? "?" : "&") + query;
}

class Pusher {
 public:
  Pusher(Client& client, const PushOptions& o, Progress& progress) : client_(client), o_(o), progress_(progress) {}

  // True when the registry has the blob (or mounted it): nothing to send.
  bool present(HttpSession& s, const Blob& b, std::string* location) {
    auto head = client_.send(s, [&] {
      HttpRequest r;
      r.method = "HEAD";
      r.url = "blobs/" + b.digest;
      return r;
    });
    if (head.status == 200) return true;
    for (const auto& from : o_.mount_from) {
      auto r = client_.send(s, [&] {
        HttpRequest q;
        q.method = "POST";
        q.url = "blobs/uploads/?mount=" + url_escape(b.digest) + "&from=" + url_escape(from);
        return q;
      });
      if (r.status == 201) return true;
      if (r.status == 202 && !r.header("location").empty()) {
        *location = r.header("location");  // not mountable: an upload session instead
        return false;
      }
    }
    return false;
  }

  void upload(HttpSession& s, const Blob& b, std::string location) {
    std::string what = "blob " + b.digest;
    if (location.empty()) {
      auto r = client_.send_ok(s, [&] {
        HttpRequest q;
        q.method = "POST";
        q.url = "blobs/uploads/";
        return q;
      }, what + ": start upload");
      location = r.header("location");
      if (location.empty()) throw Error(what + ": the registry gave no upload location");
    }
    Fd fd;
    if (b.config.empty()) {
      fd = Fd(::open(b.path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd) throw_errno("open", b.path);
    }
    auto body = [&](HttpRequest& q, uint64_t offset, uint64_t length) {
      if (b.config.empty()) {
        q.body_fd = fd.get();
        q.body_offset = offset;
        q.body_length = length;
      } else {
        q.body = b.config.substr(offset, length);
      }
      q.headers.push_back("Content-Type: application/octet-stream");
    };
    uint64_t chunk = o_.chunk_size;
    if (chunk == 0 || b.size <= chunk || !b.config.empty()) {
      client_.send_ok(s, [&] {
        HttpRequest q;
        q.method = "PUT";
        q.url = with_query(location, "digest=" + url_escape(b.digest));
        body(q, 0, b.size);
        return q;
      }, what + ": upload");
    } else {
      for (uint64_t off = 0; off < b.size; off += chunk) {
        uint64_t n = std::min(chunk, b.size - off);
        auto r = client_.send_ok(s, [&] {
          HttpRequest q;
          q.method = "PATCH";
          q.url = location;
          body(q, off, n);
          q.headers.push_back(fmt::format("Content-Range: {}-{}", off, off + n - 1));
          return q;
        }, fmt::format("{}: upload of bytes {}-{}", what, off, off + n - 1));
        if (!r.header("location").empty()) location = r.header("location");
        progress_.add(b.digest, n);
      }
      client_.send_ok(s, [&] {
        HttpRequest q;
        q.method = "PUT";
        q.url = with_query(location, "digest=" + url_escape(b.digest));
        return q;
      }, what + ": finish upload");
      progress_.done(b.digest);
      return;
    }
    progress_.add(b.digest, b.size);
    progress_.done(b.digest);
  }

  // One blob, retried from a new session when a step fails.
  void push(HttpSession& s, const Blob& b) {
    for (int attempt = 0;; ++attempt) {
      try {
        std::string location;
        if (present(s, b, &location)) {
          ++skipped_;
          progress_.done(b.digest, "already there");
          return;
        }
        upload(s, b, location);
        uploaded_ += b.size;
        return;
      } catch (const TransportError&) {
        if (attempt >= client_.retries()) throw;
      }
    }
  }

  void run(const std::vector<Blob>& blobs, int jobs, PushResult& result) {
    std::atomic<size_t> next{0};
    std::vector<std::exception_ptr> errors(blobs.size());
    std::vector<std::thread> workers;
    int n = std::max(1, std::min<int>(jobs, static_cast<int>(blobs.size())));
    for (int w = 0; w < n; ++w)
      workers.emplace_back([&] {
        std::unique_ptr<HttpSession> s;
        for (size_t i; (i = next++) < blobs.size();) {
          try {
            if (!s) s = client_.session();
            push(*s, blobs[i]);
          } catch (...) {
            errors[i] = std::current_exception();
            next = blobs.size();  // stop taking work
          }
        }
      });
    for (auto& t : workers) t.join();
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
    result.uploaded = uploaded_;
    result.skipped = skipped_;
  }

 private:
  Client& client_;
  const PushOptions& o_;
  Progress& progress_;
  std::atomic<uint64_t> uploaded_{0};
  std::atomic<int> skipped_{0};
};

}  // namespace

PushResult push_image(const image::StoredImage& image, const image::Store& store, const image::Reference& dest,
                      const PushOptions& options) {
  if (dest.digest) throw Error(fmt::format("{}: push to a tag, not a digest", dest.str()));
  struct stat st {};
  if (::stat(image.manifest.c_str(), &st) != 0)
    throw Error(fmt::format("{}: the store keeps no manifest and layers for this image (stored by an older "
                            "ferry); import or pull it again to push it", image.id));
  std::string manifest = read_file(image.manifest);
  auto doc = nlohmann::json::parse(manifest, nullptr, false);
  if (!doc.is_object() || !doc.contains("layers") || !doc["layers"].is_array() || !doc.contains("config"))
    throw Error(image.manifest + ": malformed manifest");
  std::string media_type = doc.value("mediaType", "application/vnd.oci.image.manifest.v1+json");

  std::vector<Blob> blobs;
  for (const auto& l : doc["layers"]) {
    Blob b;
    b.digest = l.value("digest", "");
    b.media_type = l.value("mediaType", "");
    b.path = store.blob_path(b.digest);
    if (::stat(b.path.c_str(), &st) != 0)
      throw Error(fmt::format("layer {}: not in the store ({}); pull or import the image again", b.digest, b.path));
    b.size = static_cast<uint64_t>(st.st_size);
    blobs.push_back(std::move(b));
  }
  Blob config;
  config.config = read_file(image.config);
  config.digest = sha256_digest(config.config);
  config.size = config.config.size();
  if (config.digest != doc["config"].value("digest", ""))
    throw Error(fmt::format("{}: the manifest's config is not the image's ({})", image.manifest, image.id));
  blobs.push_back(std::move(config));

  ClientOptions co = options.client;
  co.push = true;
  co.mount_from = options.mount_from;
  Client client(dest, co);
  Progress progress(options.quiet, "pushed");
  for (const auto& b : blobs) progress.blob(b.digest, b.size);
  PushResult result;
  Pusher(client, options, progress).run(blobs, options.client.config.pull_jobs_or_default(), result);
  progress.stop();

  auto s = client.session();
  std::string tag = dest.tag.value_or("latest");
  auto r = client.send_ok(*s, [&] {
    HttpRequest q;
    q.method = "PUT";
    q.url = "manifests/" + tag;
    q.body = manifest;
    q.headers.push_back("Content-Type: " + media_type);
    return q;
  }, fmt::format("{}:{}: manifest", client.repository(), tag));
  result.manifest_digest = sha256_digest(manifest);
  if (std::string said = r.header("docker-content-digest"); !said.empty() && said != result.manifest_digest)
    throw Error(fmt::format("{}: the registry stored the manifest as {}, not {}", dest.str(), said,
                            result.manifest_digest));
  return result;
}

}  // namespace ferry::registry
