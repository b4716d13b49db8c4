#include "elf.hpp"

#include <elf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <sstream>

#include "ferry/core/path.hpp"

namespace ferry::hpc {
namespace {

// Limits on what an image's ELF file (written by anyone) may make ferry
// hold: far above any real library's, far below a node's memory.
constexpr size_t kMaxStrtab = 64 << 20;
constexpr int kMaxVersions = 4096;
constexpr size_t kMaxDynamic = 1 << 16;       // dynamic entries kept
constexpr size_t kMaxVersionPairs = 1 << 16;  // (file, version) needs
constexpr size_t kMaxName = 255;              // a soname or version name (NAME_MAX)
constexpr size_t kMaxPathList = 64 << 10;     // DT_RPATH, DT_RUNPATH

template <typename T>
bool read_at(int fd, uint64_t off, T& out) {
  return ::pread(fd, &out, sizeof out, static_cast<off_t>(off)) == static_cast<ssize_t>(sizeof out);
}

// DT_RPATH/DT_RUNPATH entries, empty ones dropped (relative ones kept: $ORIGIN).
std::vector<std::string> split_colon(const std::string& s) {
  auto out = split_fields(s, ':');
  std::erase(out, std::string());
  return out;
}

unsigned char host_data() { return __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB; }

class Reader {
 public:
  explicit Reader(int fd) : fd_(fd) {}

  bool load(ElfInfo& info) {
    Elf64_Ehdr eh{};
    if (!read_at(fd_, 0, eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) return false;
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != host_data()) return false;
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 256) return false;
    info.machine = eh.e_machine;
    std::optional<Elf64_Phdr> dynamic;
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
      Elf64_Phdr ph{};
      if (!read_at(fd_, eh.e_phoff + i * sizeof ph, ph)) return false;
      if (ph.p_type == PT_LOAD) loads_.push_back(ph);
      if (ph.p_type == PT_DYNAMIC) dynamic = ph;
    }
    if (!dynamic) return false;
    return read_dynamic(*dynamic, info);
  }

 private:
  // Dynamic entries hold virtual addresses; the PT_LOAD that covers one
  // says where it is in the file.
  std::optional<uint64_t> offset_of(uint64_t vaddr) const {
    for (const auto& ph : loads_)
      if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_filesz) return vaddr - ph.p_vaddr + ph.p_offset;
    return std::nullopt;
  }

  // The string at OFF in the string table; empty when OFF is outside it or
  // the string is longer than MAX.
  std::string str(uint64_t off, size_t max = kMaxName) const {
    if (off >= strtab_.size()) return {};
    size_t n = ::strnlen(strtab_.c_str() + off, std::min<size_t>(max + 1, strtab_.size() - off));
    return n > max ? std::string() : std::string(strtab_.c_str() + off, n);
  }

  bool read_dynamic(const Elf64_Phdr& dyn, ElfInfo& info) {
    std::vector<Elf64_Dyn> entries;
    uint64_t strtab = 0, strsz = 0, verneed = 0, verneednum = 0, verdef = 0, verdefnum = 0;
    for (uint64_t off = dyn.p_offset; off + sizeof(Elf64_Dyn) <= dyn.p_offset + dyn.p_filesz; off += sizeof(Elf64_Dyn)) {
      Elf64_Dyn d{};
      if (!read_at(fd_, off, d)) return false;
      if (d.d_tag == DT_NULL) break;
      switch (d.d_tag) {
        case DT_STRTAB: strtab = d.d_un.d_ptr; break;
        case DT_STRSZ: strsz = d.d_un.d_val; break;
        case DT_VERNEED: verneed = d.d_un.d_ptr; break;
        case DT_VERNEEDNUM: verneednum = d.d_un.d_val; break;
        case DT_VERDEF: verdef = d.d_un.d_ptr; break;
        case DT_VERDEFNUM: verdefnum = d.d_un.d_val; break;
        default:
          if (entries.size() == kMaxDynamic) return false;
          entries.push_back(d);
      }
    }
    auto str_off = offset_of(strtab);
    if (!str_off || strsz == 0 || strsz > kMaxStrtab) return false;
    strtab_.resize(strsz);
    if (::pread(fd_, strtab_.data(), strsz, static_cast<off_t>(*str_off)) != static_cast<ssize_t>(strsz)) return false;
    for (const auto& d : entries) {
      if (d.d_tag == DT_NEEDED) info.needed.push_back(str(d.d_un.d_val));
      else if (d.d_tag == DT_SONAME) info.soname = str(d.d_un.d_val);
      else if (d.d_tag == DT_RPATH) info.rpath = split_colon(str(d.d_un.d_val, kMaxPathList));
      else if (d.d_tag == DT_RUNPATH) info.runpath = split_colon(str(d.d_un.d_val, kMaxPathList));
    }
    if (verneed != 0 && !read_verneed(verneed, verneednum, info)) return false;
    if (verdef != 0 && !read_verdef(verdef, verdefnum, info)) return false;
    return true;
  }

  // Elf64_Verneed records, each followed by vn_cnt Elf64_Vernaux records,
  // linked by byte offsets (vn_next, vna_next).
  bool read_verneed(uint64_t vaddr, uint64_t count, ElfInfo& info) {
    auto off = offset_of(vaddr);
    if (!off || count > kMaxVersions) return false;
    uint64_t at = *off;
    for (uint64_t i = 0; i < count; ++i) {
      Elf64_Verneed vn{};
      if (!read_at(fd_, at, vn) || vn.vn_cnt > kMaxVersions) return false;
      std::string file = str(vn.vn_file);
      uint64_t aux = at + vn.vn_aux;
      for (unsigned j = 0; j < vn.vn_cnt; ++j) {
        Elf64_Vernaux va{};
        if (!read_at(fd_, aux, va) || info.verneed.size() == kMaxVersionPairs) return false;
        info.verneed.emplace_back(file, str(va.vna_name));
        if (va.vna_next == 0) break;
        aux += va.vna_next;
      }
      if (vn.vn_next == 0) break;
      at += vn.vn_next;
    }
    return true;
  }

  bool read_verdef(uint64_t vaddr, uint64_t count, ElfInfo& info) {
    auto off = offset_of(vaddr);
    if (!off || count > kMaxVersions) return false;
    uint64_t at = *off;
    for (uint64_t i = 0; i < count; ++i) {
      Elf64_Verdef vd{};
      if (!read_at(fd_, at, vd)) return false;
      // The first Verdaux names the version; VER_FLG_BASE is the file's own name.
      Elf64_Verdaux va{};
      if (vd.vd_cnt > 0 && (vd.vd_flags & VER_FLG_BASE) == 0) {
        if (!read_at(fd_, at + vd.vd_aux, va)) return false;
        info.verdef.push_back(str(va.vda_name));
      }
      if (vd.vd_next == 0) break;
      at += vd.vd_next;
    }
    return true;
  }

  int fd_;
  std::vector<Elf64_Phdr> loads_;
  std::string strtab_;
};

std::vector<unsigned long> version_numbers(const std::string& v) {
  std::vector<unsigned long> out;
  auto us = v.rfind('_');
  if (us == std::string::npos) return out;
  std::stringstream ss(v.substr(us + 1));
  for (std::string p; std::getline(ss, p, '.');) {
    if (p.empty() || p.size() > 9 || p.find_first_not_of("0123456789") != std::string::npos) return {};
    out.push_back(std::stoul(p));
  }
  return out;
}

}  // namespace

std::optional<ElfInfo> read_elf(int fd) {
  ElfInfo info;
  Reader r(fd);
  if (!r.load(info)) return std::nullopt;
  return info;
}

uint16_t elf_machine(int fd) {
  Elf64_Ehdr eh{};
  if (!read_at(fd, 0, eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) return 0;
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != host_data()) return 0;
  return eh.e_machine;
}

bool version_less(const std::string& a, const std::string& b) {
  auto x = version_numbers(a), y = version_numbers(b);
  if (x.empty() || y.empty()) return false;
  return x < y;
}

}  // namespace ferry::hpc
