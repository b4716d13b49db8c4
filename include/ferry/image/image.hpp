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

/// Resolves IMAGE as typed by the user. Today: a path to a directory or a
/// SquashFS file; its config, if any, is the file `PATH.config.json` beside
/// it (the same place the store keeps it). Throws a one-line Error when the
/// image does not exist or is neither form.
ResolvedImage resolve(const std::string& spec);

}  // namespace ferry::image
