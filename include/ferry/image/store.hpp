/// The per-user image store (ARCHITECTURE.md decision 7): one SquashFS file
/// per image, its OCI config beside it, and an index of names.
///
///   ROOT/images/<hex>.sqfs              the image (hex = sha256 of its config)
///   ROOT/images/<hex>.sqfs.config.json  its OCI image config, as imported
///   ROOT/images/<hex>.sqfs.manifest.json  the image manifest its layers came with (pushes send it)
///   ROOT/blobs/sha256/<hex>             layer blobs as pulled or imported (shared by images)
///   ROOT/repositories.json              {"names": {"docker.io/library/x:1": "sha256:<hex>"}}
///   ROOT/tmp/                           work files of imports in progress
///   ROOT/lock                           flock(2) held by every writer
///   ROOT/blobs.lock                     flock(2): shared by imports and pulls that
///                                       may list stored blobs, exclusive to collect them
///
/// Content-addressed: an image is stored once whatever names point at it.
/// Every write is a temporary file, fsync, rename, under the lock, so a
/// killed import or two at once never leave a half image or index behind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/core/fd.hpp"
#include "ferry/core/file_lock.hpp"
#include "ferry/core/sha256.hpp"
#include "ferry/image/reference.hpp"

namespace ferry::image {

struct StoredImage {
  std::string id;      ///< "sha256:<hex>" of the config
  std::string sqfs;    ///< absolute path of the SquashFS file
  std::string config;  ///< absolute path of the config JSON beside it
  std::string manifest;  ///< its image manifest (may not exist: images stored before blobs were kept)
};

class Store {
 public:
  /// $FERRY_STORE, else $XDG_DATA_HOME/ferry, else ~/.local/share/ferry.
  static std::string user_root();

  explicit Store(std::string root);
  const std::string& root() const { return root_; }

  std::optional<StoredImage> lookup(const Reference& name) const;
  /// By full id or a unique prefix of its hex (at least 4 digits).
  std::optional<StoredImage> lookup_id(std::string_view id) const;
  /// Every name and the id it points at, sorted by name.
  std::map<std::string, std::string> names() const;

  /// Where the image with ID lives (no I/O; the files may not exist).
  StoredImage entry(const std::string& id) const;

  /// A fresh path under ROOT/tmp for an import to write its SquashFS to.
  /// Leftovers of imports whose process is gone are removed first.
  std::string temp_path();

  /// Publishes a converted image: moves `sqfs_tmp` (from temp_path()) and
  /// the config into place unless an image with this config is already
  /// stored, then points `names` at it. Atomic under the store lock.
  /// MANIFEST, when given, is kept beside it (its layers' blobs must have
  /// been put_blob()'d).
  StoredImage add(const std::string& sqfs_tmp, std::string_view config_json,
                  const std::vector<Reference>& names, std::string_view manifest = {});

  /// Publishes the image ID if it is stored already (points `names` at it);
  /// false when it is not.
  bool add_existing(const std::string& id, const std::vector<Reference>& names);

  /// Where the blob DIGEST is kept (no I/O).
  std::string blob_path(const std::string& digest) const;
  /// Moves the verified blob file TMP (from temp_path()) into place.
  void put_blob(const std::string& tmp, const std::string& digest);
  /// A shared claim on the store's blobs (the lock ends the claim), held
  /// by an import or a pull from before it looks for stored blobs until its
  /// add() has written the manifest that lists them. remove() collects
  /// unlisted blobs only while nobody holds a claim, so it never takes one
  /// that is about to be listed.
  FileLock claim_blobs();

  /// Points DST at the image SRC names.
  void tag(const Reference& src, const Reference& dst);

  /// Removes NAME; the image file goes when no name points at it any more,
  /// and with it the blobs no other image's manifest lists.
  /// Returns the id of the image deleted, if one was.
  std::optional<std::string> remove(const Reference& name);

 private:
  std::map<std::string, std::string> read_index() const;
  void write_index(const std::map<std::string, std::string>& index);
  void prepare();
  void collect_blobs();

  std::string root_;
};

/// A layer blob on its way into STORE: written to a work file under tmp/
/// while its sha256 is computed; keep() moves it to blobs/. Removed when
/// destroyed unless kept. Used by import (blobs copied as they stream past
/// the conversion) and by pull (blobs as they download).
class BlobWriter {
 public:
  explicit BlobWriter(Store& store);
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;

  void write(const void* data, size_t n);
  /// The work file (a reader may open it while it grows).
  const std::string& path() const { return file_.path(); }
  uint64_t size() const { return size_; }
  /// The first bytes written (at most 4): enough to tell the compression.
  std::string_view head() const { return {head_, head_n_}; }
  /// "sha256:…" of everything written; call once the blob is complete.
  const std::string& digest();
  /// fsync, then moves the file to blob_path(digest()) unless the store has
  /// that blob already.
  void keep();

 private:
  Store& store_;
  TempFile file_;
  Fd fd_;
  Writeback writeback_;  // of fd_
  Sha256 hash_;
  std::string digest_;
  uint64_t size_ = 0;
  char head_[4] = {};
  size_t head_n_ = 0;
};

}  // namespace ferry::image
