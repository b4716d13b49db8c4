/// The per-user image store (ARCHITECTURE.md decision 7): one SquashFS file
/// per image, its OCI config beside it, and an index of names.
///
///   ROOT/images/<hex>.sqfs              the image (hex = sha256 of its config)
///   ROOT/images/<hex>.sqfs.config.json  its OCI image config, as imported
///   ROOT/repositories.json              {"names": {"docker.io/library/x:1": "sha256:<hex>"}}
///   ROOT/tmp/                           work files of imports in progress
///   ROOT/lock                           flock(2) held by every writer
///
/// Content-addressed: an image is stored once whatever names point at it.
/// Every write is a temporary file, fsync, rename, under the lock, so a
/// killed import or two at once never leave a half image or index behind.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/image/reference.hpp"

namespace ferry::image {

struct StoredImage {
  std::string id;      ///< "sha256:<hex>" of the config
  std::string sqfs;    ///< absolute path of the SquashFS file
  std::string config;  ///< absolute path of the config JSON beside it
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
  StoredImage add(const std::string& sqfs_tmp, std::string_view config_json,
                  const std::vector<Reference>& names);

  /// Points DST at the image SRC names.
  void tag(const Reference& src, const Reference& dst);

  /// Removes NAME; the image file goes when no name points at it any more.
  /// Returns the id of the image deleted, if one was.
  std::optional<std::string> remove(const Reference& name);

 private:
  std::map<std::string, std::string> read_index() const;
  void write_index(const std::map<std::string, std::string>& index);
  void prepare();

  std::string root_;
};

}  // namespace ferry::image
