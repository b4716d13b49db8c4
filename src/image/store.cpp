#include "ferry/image/store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <set>
#include <random>

#include "ferry/core/error.hpp"
#include "ferry/core/fd.hpp"
#include "ferry/core/file_lock.hpp"
#include "ferry/core/log.hpp"
#include "ferry/core/sha256.hpp"

namespace ferry::image {
namespace {

std::string hex_of(const std::string& id) { return id.substr(7); }  // after "sha256:"

void make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) throw_errno("mkdir", path);
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// Temporary files are named "<pid>.<random>"; a file whose process is gone
// is a leftover of a killed import.
bool stale(const std::string& name) {
  long pid = std::strtol(name.c_str(), nullptr, 10);
  return pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

}  // namespace

std::string Store::user_root() {
  if (const char* s = std::getenv("FERRY_STORE"); s && *s) return s;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x == '/') return std::string(x) + "/ferry";
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home != '/') throw Error("cannot find the image store: set FERRY_STORE or HOME");
  return std::string(home) + "/.local/share/ferry";
}

Store::Store(std::string root) : root_(std::move(root)) {}

void Store::prepare() {
  // mkdir -p of the root, then the store's own directories.
  for (size_t i = 1; i <= root_.size(); ++i)
    if (i == root_.size() || root_[i] == '/') {
      std::string part = root_.substr(0, i);
      if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) throw_errno("mkdir", part);
    }
  make_dir(root_ + "/images");
  make_dir(root_ + "/tmp");
}

StoredImage Store::entry(const std::string& id) const {
  std::string base = root_ + "/images/" + hex_of(id) + ".sqfs";
  return {id, base, base + ".config.json", base + ".manifest.json"};
}

std::map<std::string, std::string> Store::read_index() const {
  std::string path = root_ + "/repositories.json";
  if (!exists(path)) return {};
  auto doc = nlohmann::json::parse(read_file(path), nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("names") || !doc["names"].is_object())
    throw Error(path + ": malformed store index");
  std::map<std::string, std::string> out;
  for (const auto& [name, id] : doc["names"].items()) {
    if (!id.is_string() || !is_digest(id.get<std::string>())) throw Error(path + ": malformed store index");
    out[name] = id.get<std::string>();
  }
  return out;
}

void Store::write_index(const std::map<std::string, std::string>& index) {
  nlohmann::json doc = {{"names", index}};
  write_file_atomic(root_ + "/repositories.json", doc.dump(2) + "\n", 0600);
}

std::optional<StoredImage> Store::lookup(const Reference& name) const {
  auto index = read_index();
  auto it = index.find(name.str());
  if (it == index.end()) return std::nullopt;
  StoredImage e = entry(it->second);
  if (!exists(e.sqfs)) throw Error(fmt::format("{}: the store names {} but its file is missing", name.str(), it->second));
  return e;
}

std::optional<StoredImage> Store::lookup_id(std::string_view id) const {
  std::string_view hex = id.substr(0, 7) == "sha256:" ? id.substr(7) : id;
  if (hex.size() < 4) return std::nullopt;
  std::optional<std::string> found;
  for (const auto& [name, full] : read_index()) {
    if (hex_of(full).compare(0, hex.size(), hex) != 0 || found == full) continue;
    if (found) throw Error(fmt::format("image id {} is ambiguous", id));
    found = full;
  }
  if (!found) return std::nullopt;
  return entry(*found);
}

std::map<std::string, std::string> Store::names() const { return read_index(); }

std::string Store::temp_path() {
  prepare();
  std::string tmp = root_ + "/tmp";
  {
    FileLock lock(root_ + "/lock");
    if (DIR* d = ::opendir(tmp.c_str())) {
      while (struct dirent* e = ::readdir(d))
        if (e->d_name[0] != '.' && stale(e->d_name)) ::unlink((tmp + "/" + e->d_name).c_str());
      ::closedir(d);
    }
  }
  std::random_device rd;
  return fmt::format("{}/{}.{:08x}", tmp, ::getpid(), rd());
}

StoredImage Store::add(const std::string& sqfs_tmp, std::string_view config_json,
                       const std::vector<Reference>& names, std::string_view manifest) {
  prepare();
  std::string id = sha256_digest(config_json);
  StoredImage e = entry(id);
  FileLock lock(root_ + "/lock");
  auto index = read_index();
  if (exists(e.sqfs)) {
    ::unlink(sqfs_tmp.c_str());  // the same image is stored already
  } else {
    write_file_atomic(e.config, config_json, 0644);
    if (!manifest.empty()) write_file_atomic(e.manifest, manifest, 0644);
    if (::rename(sqfs_tmp.c_str(), e.sqfs.c_str()) != 0) throw_errno("rename", sqfs_tmp + " to " + e.sqfs);
    sync_parent_dir(e.sqfs);
  }
  for (const auto& n : names) index[n.str()] = id;
  write_index(index);
  return e;
}

bool Store::add_existing(const std::string& id, const std::vector<Reference>& names) {
  prepare();
  FileLock lock(root_ + "/lock");
  if (!exists(entry(id).sqfs)) return false;
  auto index = read_index();
  for (const auto& n : names) index[n.str()] = id;
  write_index(index);
  return true;
}

std::string Store::blob_path(const std::string& digest) const {
  if (!is_digest(digest)) throw Error(fmt::format("'{}': not a sha256 digest", digest));
  return root_ + "/blobs/sha256/" + hex_of(digest);
}

void Store::put_blob(const std::string& tmp, const std::string& digest) {
  std::string path = blob_path(digest);
  make_dir(root_ + "/blobs");
  make_dir(root_ + "/blobs/sha256");
  if (::rename(tmp.c_str(), path.c_str()) != 0) throw_errno("rename", tmp + " to " + path);
  sync_parent_dir(path);
}

FileLock Store::claim_blobs() {
  prepare();
  return FileLock(root_ + "/blobs.lock", FileLock::Mode::kShared);
}

// Removes the blobs no stored manifest lists (under the lock).
void Store::collect_blobs() {
  std::set<std::string> used;
  std::string images = root_ + "/images";
  if (DIR* d = ::opendir(images.c_str())) {
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (!name.ends_with(".sqfs.manifest.json")) continue;
      auto doc = nlohmann::json::parse(read_file(images + "/" + name), nullptr, false);
      if (!doc.is_object() || !doc.contains("layers") || !doc["layers"].is_array()) continue;
      for (const auto& l : doc["layers"])
        if (l.is_object() && l.contains("digest") && l["digest"].is_string()) used.insert(l["digest"].get<std::string>());
    }
    ::closedir(d);
  }
  std::string blobs = root_ + "/blobs/sha256";
  if (DIR* d = ::opendir(blobs.c_str())) {
    while (struct dirent* e = ::readdir(d))
      if (e->d_name[0] != '.' && !used.count("sha256:" + std::string(e->d_name)))
        ::unlink((blobs + "/" + e->d_name).c_str());
    ::closedir(d);
  }
}

BlobWriter::BlobWriter(Store& store)
    : store_(store),
      file_(store.temp_path()),
      fd_(open_or_throw(file_.path(), O_WRONLY | O_CREAT | O_EXCL, 0600)),
      writeback_(fd_.get()) {}

void BlobWriter::write(const void* data, size_t n) {
  for (size_t i = 0; i < n && head_n_ < sizeof head_; ++i) head_[head_n_++] = static_cast<const char*>(data)[i];
  write_all(fd_.get(), data, n, file_.path());
  hash_.update(data, n);
  size_ += n;
  writeback_.wrote_to(size_);
}

const std::string& BlobWriter::digest() {
  if (digest_.empty()) digest_ = hash_.digest();
  return digest_;
}

void BlobWriter::keep() {
  if (::fsync(fd_.get()) != 0) throw_errno("fsync", file_.path());
  if (exists(store_.blob_path(digest()))) return;  // the work file goes with this writer
  store_.put_blob(file_.path(), digest());
  file_.release();
}

void Store::tag(const Reference& src, const Reference& dst) {
  prepare();
  FileLock lock(root_ + "/lock");
  auto index = read_index();
  auto it = index.find(src.str());
  if (it == index.end()) throw Error(fmt::format("{}: no such image in the store", src.familiar()));
  index[dst.str()] = it->second;
  write_index(index);
}

std::optional<std::string> Store::remove(const Reference& name) {
  prepare();
  FileLock lock(root_ + "/lock");
  auto index = read_index();
  auto it = index.find(name.str());
  if (it == index.end()) throw Error(fmt::format("{}: no such image in the store", name.familiar()));
  std::string id = it->second;
  index.erase(it);
  write_index(index);
  for (const auto& [n, other] : index)
    if (other == id) return std::nullopt;
  StoredImage e = entry(id);
  ::unlink(e.sqfs.c_str());
  ::unlink(e.config.c_str());
  ::unlink(e.manifest.c_str());
  // An import or a pull under way may hold blobs its manifest does not list
  // yet: then the unlisted blobs stay for a later remove().
  // The name is gone already: a lock file that cannot be opened only leaves
  // the blobs for a later rmi, as a claim does.
  std::optional<FileLock> no_claims;
  try {
    no_claims = FileLock::try_exclusive(root_ + "/blobs.lock");
    if (!no_claims) log::debug("an import or pull is under way: unlisted blobs are left for a later rmi");
  } catch (const Error& err) {
    log::debug(err.what());
  }
  if (no_claims) collect_blobs();
  return id;
}

}  // namespace ferry::image
