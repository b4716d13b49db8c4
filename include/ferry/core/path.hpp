/// Lexical path helpers (no file-system access). Paths inside an image are
/// resolved against a directory fd elsewhere (runtime/resolve); these only
/// normalise and compare strings.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ferry {

/// Splits on '/', dropping empty components and ".": "/a//b/./c" -> {a,b,c}.
std::vector<std::string> split_path(std::string_view path);

/// Splits on SEP, keeping empty fields: "a::b:" -> {a, "", b, ""}; "" -> {}.
std::vector<std::string> split_fields(const std::string& s, char sep);

/// The absolute directories of a search path such as PATH or
/// LD_LIBRARY_PATH ("a:/x::/y" -> {/x, /y}): the others would be taken
/// against the working directory, which means nothing for another root.
std::vector<std::string> absolute_dirs(const std::string& search_path);

/// "/a//b/./c/" -> "/a/b/c"; keeps ".." components (callers reject them).
std::string normalize_path(std::string_view path);

/// Makes `path` absolute against the current directory (lexically).
std::string absolute_path(std::string_view path);

/// True when some component of `path` is "..".
bool has_dotdot(std::string_view path);

/// True when `path` equals `dir` or lies below it ("/a/b" within "/a").
bool path_within(std::string_view path, std::string_view dir);

/// Number of components: "/" -> 0, "/a/b" -> 2.
size_t path_depth(std::string_view path);

}  // namespace ferry
