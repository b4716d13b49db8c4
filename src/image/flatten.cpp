// One-pass flattening of image layers, newest first (include/ferry/image/flatten.hpp,
// docs/design/convert.md). The rules, from the OCI image-spec (layer.md,
// "Whiteouts") read backwards:
// - the first layer (newest) to name a path decides what it is; an older
//   entry for a path already in the tree is skipped, body and all;
// - `.wh.NAME` hides NAME in older layers; `.wh..wh..opq` hides everything
//   older below its directory; neither hides entries of its own layer;
// - a directory can be created implicitly by a deeper path; it takes its
//   metadata from the newest explicit entry, if any;
// - within one layer the later entry wins, as tar extraction does.
// Each TreeNode remembers the layer that put it there (`layer`) and, for an
// opaque directory, the newest layer that made it so (`opaque_below`).
#include "ferry/image/flatten.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <limits>

#include "ferry/core/error.hpp"
#include "ferry/core/log.hpp"
#include "ferry/image/squashfs_writer.hpp"

namespace ferry::image {

namespace {

using Kind = TreeNode::Kind;
constexpr std::string_view kWhiteout = ".wh.";
constexpr std::string_view kOpaque = ".wh..wh..opq";

// Files readable and directories listable and traversable by whoever runs the
// image: in a rootless container image uid 0 is unmapped, so the caller is
// "other" to most files and the owner bits alone would not help. a+r, and
// a+x where anyone could execute (chmod a+rX); no write bit is added;
// setuid/setgid are cleared (the mount is nosuid anyway).
mode_t usable_mode(Kind kind, mode_t mode) {
  mode &= 07777 & ~mode_t(S_ISUID | S_ISGID);
  switch (kind) {
    case Kind::kDir: return mode | 0555;
    case Kind::kSymlink: return 0777;
    default: return (mode & 0111) ? (mode | 0555) : (mode | 0444);
  }
}

uint32_t clamp_time(int64_t t) {
  return static_cast<uint32_t>(std::clamp<int64_t>(t, 0, std::numeric_limits<uint32_t>::max()));
}

class Flattener {
 public:
  Flattener(SquashfsWriter& writer, ConvertStats& stats) : writer_(writer), stats_(stats) {
    root_.kind = Kind::kDir;
    root_.mode = 0755;
  }

  void add_layer(const LayerSource& src, uint16_t layer);
  void resolve_hardlinks();
  TreeNode& root() { return root_; }

 private:
  void add_entry(LayerReader& r, const LayerEntry& e, uint16_t layer);
  std::vector<std::string> split(const std::string& path, const std::string& entry, const std::string& what) const;
  TreeNode* walk(const std::vector<std::string>& comps, size_t n, uint16_t layer, const LayerEntry& e);
  void whiteout(TreeNode& dir, const std::string& name, uint16_t layer);
  void place(TreeNode& dir, const std::string& name, LayerReader& r, const LayerEntry& e, Kind kind,
             uint16_t layer);
  void fill(TreeNode& n, LayerReader& r, const LayerEntry& e, Kind kind, uint16_t layer);
  [[noreturn]] void reject(const std::string& path, const std::string& why) const {
    throw Error(label_ + ": " + path + ": " + why);
  }

  SquashfsWriter& writer_;
  ConvertStats& stats_;
  TreeNode root_;
  std::string label_;  // of the layer being read
  uint64_t holes_left_ = kSparseHoleLimit;  // over all layers
};

// "./a//b/" -> {a, b}; absolute paths and ".." are refused, not normalised:
// an image that contains them was made to escape, and saying so is clearer
// than silently dropping the entry.
std::vector<std::string> Flattener::split(const std::string& path, const std::string& entry,
                                         const std::string& what) const {
  if (!path.empty() && path[0] == '/') reject(entry, what + " is absolute");
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string c = path.substr(i, j - i);
    if (c == "..") reject(entry, what + " has a \"..\" component");
    if (c.size() > 255) reject(entry, "a name is longer than 255 bytes");
    if (!c.empty() && c != ".") out.push_back(std::move(c));
    i = j + 1;
  }
  return out;
}

// The directory that holds comps[n], creating implicit directories on the
// way; nullptr when a newer layer hides the path (whiteout, opaque directory,
// or a non-directory in its place). A non-directory of the same layer in the
// way is an error: following it would write through a symlink.
TreeNode* Flattener::walk(const std::vector<std::string>& comps, size_t n, uint16_t layer, const LayerEntry& e) {
  TreeNode* dir = &root_;
  for (size_t i = 0; i < n; ++i) {
    if (dir->opaque_below < layer) return nullptr;
    auto it = dir->children.find(comps[i]);
    if (it == dir->children.end()) {
      auto node = std::make_unique<TreeNode>();
      node->layer = layer;
      it = dir->children.emplace(comps[i], std::move(node)).first;
    }
    TreeNode* c = it->second.get();
    if (c->kind == Kind::kWhiteout) {
      if (c->layer < layer) return nullptr;
      // .wh.X and X/... in one layer: X is a new directory over whatever was below.
      *c = TreeNode{};
      c->layer = layer;
      c->opaque_below = layer;
    } else if (c->kind != Kind::kDir) {
      if (c->layer < layer) return nullptr;
      std::string prefix;
      for (size_t k = 0; k <= i; ++k) prefix += (k ? "/" : "") + comps[k];
      reject(e.path, prefix + " is a " + (c->kind == Kind::kSymlink ? "symlink" : "non-directory") +
                         " in the same layer; refusing to write through it");
    }
    dir = c;
  }
  return dir->opaque_below < layer ? nullptr : dir;
}

void Flattener::whiteout(TreeNode& dir, const std::string& name, uint16_t layer) {
  auto it = dir.children.find(name);
  if (it == dir.children.end()) {
    auto node = std::make_unique<TreeNode>();
    node->kind = Kind::kWhiteout;
    node->layer = layer;
    dir.children.emplace(name, std::move(node));
  } else if (it->second->layer == layer && it->second->kind == Kind::kDir) {
    // Same layer: the whiteout still hides what lies below, the entry stays.
    it->second->opaque_below = std::min(it->second->opaque_below, layer);
  }
}

void Flattener::fill(TreeNode& n, LayerReader& r, const LayerEntry& e, Kind kind, uint16_t layer) {
  if (n.kind != kind || kind != Kind::kDir) {  // a new node, or a replaced one
    n.children.clear();
    n.body = nullptr;
    n.opaque_below = 0xFFFF;
  }
  n.kind = kind;
  n.layer = std::min(n.layer, layer);
  n.has_meta = true;
  n.mode = usable_mode(kind, e.mode);
  n.uid = e.uid;
  n.gid = e.gid;
  n.mtime = clamp_time(e.mtime);
  n.xattrs = e.xattrs;
  n.target = kind == Kind::kSymlink || kind == Kind::kHardlink ? e.link_target : std::string();
  if (kind == Kind::kFile)
    n.body = writer_.add_file([&](const ByteSink& sink) { r.read_body(sink, holes_left_); });
}

void Flattener::place(TreeNode& dir, const std::string& name, LayerReader& r, const LayerEntry& e, Kind kind,
                      uint16_t layer) {
  auto it = dir.children.find(name);
  if (it == dir.children.end()) {
    auto node = std::make_unique<TreeNode>();
    node->layer = layer;
    fill(*node, r, e, kind, layer);
    dir.children.emplace(name, std::move(node));
    return;
  }
  TreeNode& c = *it->second;
  if (c.layer < layer) {  // a newer layer decided this path
    if (c.kind == Kind::kDir && !c.has_meta && kind == Kind::kDir) fill(c, r, e, kind, layer);
    return;
  }
  // Same layer: the later entry wins, as with tar -x. A directory met again
  // keeps its children; anything else replaces the node (and its subtree,
  // which can only hold entries of this same layer).
  bool was_whiteout = c.kind == Kind::kWhiteout;
  fill(c, r, e, kind, layer);
  if (was_whiteout && kind == Kind::kDir) c.opaque_below = layer;
}

void Flattener::add_entry(LayerReader& r, const LayerEntry& e, uint16_t layer) {
  std::vector<std::string> comps = split(e.path, e.path, "path");
  if (comps.empty()) {  // "./": the root directory
    if (e.type != EntryType::kDir) reject(e.path, "the root is not a directory");
    if (root_.layer == layer || !root_.has_meta) fill(root_, r, e, Kind::kDir, root_.layer);
    return;
  }
  const std::string& name = comps.back();
  bool is_whiteout = name.compare(0, kWhiteout.size(), kWhiteout) == 0;
  TreeNode* dir = walk(comps, comps.size() - 1, layer, e);
  if (!dir) return;  // hidden by a newer layer
  if (is_whiteout) {
    if (name == kOpaque)
      dir->opaque_below = std::min(dir->opaque_below, layer);
    else if (name.compare(0, 2 * kWhiteout.size(), ".wh..wh.") != 0) {  // .wh..wh.*: aufs metadata
      if (name.size() == kWhiteout.size()) reject(e.path, "whiteout without a name");
      whiteout(*dir, name.substr(kWhiteout.size()), layer);
    }
    return;
  }
  switch (e.type) {
    case EntryType::kDir: return place(*dir, name, r, e, Kind::kDir, layer);
    case EntryType::kFile: return place(*dir, name, r, e, Kind::kFile, layer);
    case EntryType::kSymlink: return place(*dir, name, r, e, Kind::kSymlink, layer);
    case EntryType::kFifo: return place(*dir, name, r, e, Kind::kFifo, layer);
    case EntryType::kHardlink: {
      // Checked now, resolved at the end against the final tree.
      std::vector<std::string> t = split(e.link_target, e.path, "hard link target " + e.link_target);
      if (t.empty()) reject(e.path, "hard link to the root directory");
      LayerEntry link = e;
      link.link_target.clear();
      for (auto& c : t) link.link_target += (link.link_target.empty() ? "" : "/") + c;
      return place(*dir, name, r, link, Kind::kHardlink, layer);
    }
    case EntryType::kCharDev:
    case EntryType::kBlockDev: {
      // Dropped, but the path still hides what older layers had there.
      auto it = dir->children.find(name);
      if (it != dir->children.end() && it->second->layer < layer) return;  // shadowed anyway
      stats_.dropped_devices++;
      auto node = std::make_unique<TreeNode>();
      node->kind = Kind::kWhiteout;
      node->layer = layer;
      dir->children.insert_or_assign(name, std::move(node));
      return;
    }
  }
}

void Flattener::add_layer(const LayerSource& src, uint16_t layer) {
  label_ = src.label;
  LayerReader reader(src);
  LayerEntry e;
  while (reader.next(&e)) add_entry(reader, e, layer);
  reader.finish();
  stats_.bytes_in += reader.bytes_read();
}

TreeNode* lookup(TreeNode& root, const std::string& path) {
  TreeNode* n = &root;
  size_t i = 0;
  while (n && i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    auto it = n->children.find(std::string_view(path).substr(i, j - i));
    n = it == n->children.end() ? nullptr : it->second.get();
    i = j + 1;
  }
  return n;
}

// A hard link points at what its target path holds in the final tree,
// following links to links; links to nothing, to a directory or in a
// cycle are dropped (and counted).
void Flattener::resolve_hardlinks() {
  std::vector<std::pair<TreeNode*, std::string>> dangling;
  auto visit = [&](auto& self, TreeNode& dir) -> void {
    for (auto& [name, child] : dir.children) {
      if (child->kind == Kind::kDir) self(self, *child);
      if (child->kind != Kind::kHardlink) continue;
      TreeNode* t = child.get();
      for (int hops = 0; t && t->kind == Kind::kHardlink && hops < 40; ++hops) t = lookup(root_, t->target);
      bool ok = t && t->kind != Kind::kHardlink && t->kind != Kind::kDir && t->kind != Kind::kWhiteout;
      child->link = ok ? t : nullptr;
      if (!ok) {
        stats_.dropped_hardlinks++;
        log::debug("dropping hard link " + name + " -> " + child->target + ": target not in the image");
      }
    }
  };
  visit(visit, root_);
}

}  // namespace

ConvertStats convert_layers(const std::vector<LayerSource>& newest_first, const std::string& out_path,
                            const ConvertOptions& options) {
  if (newest_first.size() >= 0xFFFF) throw Error("too many layers (" + std::to_string(newest_first.size()) + ")");
  ConvertStats stats;
  WriterOptions wo;
  wo.zstd_level = options.zstd_level;
  wo.threads = options.threads;
  SquashfsWriter writer(out_path, wo);
  Flattener flat(writer, stats);
  for (size_t i = 0; i < newest_first.size(); ++i) {
    // Newest first: what a layer adds is final unless a newer one decided it.
    log::Timer t("convert: layer");
    flat.add_layer(newest_first[i], static_cast<uint16_t>(i));
  }
  flat.resolve_hardlinks();
  WriteStats ws = writer.commit(flat.root());
  stats.files = ws.files;
  stats.dirs = ws.dirs;
  stats.symlinks = ws.symlinks;
  stats.fifos = ws.fifos;
  stats.hardlinks = ws.hardlinks;
  stats.dropped_xattrs = ws.xattrs_dropped;
  stats.data_bytes = ws.data_bytes;
  stats.image_bytes = ws.image_bytes;
  return stats;
}

}  // namespace ferry::image
