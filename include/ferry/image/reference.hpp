/// Image references as Docker spells and normalises them
/// (distribution/reference: `[registry/]repo[:tag][@digest]`): `ubuntu` is
/// `docker.io/library/ubuntu:latest`. Parsing is strict; a malformed
/// reference is one Error line naming it and what is wrong.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ferry::image {

struct Reference {
  std::string domain;  ///< "docker.io", "registry.example.org:5000"
  std::string path;    ///< "library/ubuntu"
  std::optional<std::string> tag;
  std::optional<std::string> digest;  ///< "sha256:<64 hex>"

  /// "docker.io/library/ubuntu"
  std::string repository() const { return domain + "/" + path; }
  /// The full normalised form: repository[:tag][@digest].
  std::string str() const;
  /// The short form Docker prints: "ubuntu:latest" for docker.io/library.
  std::string familiar() const;
};

/// Parses and normalises REF (an optional "docker://" prefix is accepted).
/// Adds the tag "latest" when neither tag nor digest is given.
Reference parse_reference(std::string_view ref);

/// True for "sha256:" followed by 64 lowercase hex digits.
bool is_digest(std::string_view s);

}  // namespace ferry::image
