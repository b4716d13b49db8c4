/// What a user names as IMAGE, resolved to something the runtime can mount:
/// a root file-system directory or a SquashFS file, plus the image's OCI
/// config (Env, Entrypoint, Cmd, WorkingDir, User). Store names slot into
/// resolve() with the image-store work; callers do not change.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/image/store.hpp"

namespace ferry::image {

/// The parts of an OCI image config ("config" object) that ferry applies.
/// Entrypoint/Cmd are optional so "absent" differs from "empty" as in Docker.
struct ImageConfig {
  std::vector<std::string> env;  // "NAME=VALUE", in order
  std::optional<std::vector<std::string>> entrypoint;
  std::optional<std::vector<std::string>> cmd;
  std::string working_dir;
  std::string user;
  std::map<std::string, std::string> labels;
  std::string architecture;
  std::string os;
};

/// Parses an OCI image config document (`{"architecture":…, "config":{…}}`).
/// Throws ferry::Error naming `what` on malformed JSON or wrong types.
ImageConfig parse_config(std::string_view json, const std::string& what);

enum class Format { Directory, Squashfs };

struct ResolvedImage {
  std::string name;  // as the user wrote it, for messages
  std::string path;  // absolute path of the directory or SquashFS file
  Format format = Format::Directory;
  ImageConfig config;
};

/// Resolves IMAGE as typed by the user: a path (one that exists, or is
/// written like one: /x, ./x, ../x) to a directory or a SquashFS file, whose
/// config, if any, is the file `PATH.config.json` beside it; otherwise a name
/// (a Docker reference, or an image id prefix) in the user's store. Throws a
/// one-line Error when there is no such image.
ResolvedImage resolve(const std::string& spec);

/// SPEC as a name in the stores (a reference or an image id prefix), or
/// nothing when no store has it. resolve() without the path case.
std::optional<ResolvedImage> resolve_name(const std::string& spec);

/// True when resolve() takes SPEC as a path: it exists, or is written like
/// one (/x, ./x, ../x, ., ..).
bool is_path_spec(const std::string& spec);

/// The stores images are looked up in: the user's, then the site's
/// read-only one ([store] site in ferry.toml), if configured.
std::vector<Store> stores();

/// The store entry SPEC names (a reference or an id prefix), if any.
std::optional<StoredImage> find_stored(const std::string& spec);

}  // namespace ferry::image
