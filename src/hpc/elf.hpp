/// What MPI injection needs to know of a shared library, read from its ELF
/// dynamic section (elf(5)): its soname, the libraries it needs, its run
/// paths, and the symbol versions it needs (verneed) and defines (verdef).
/// Only 64-bit objects of the host's byte order are read; anything else is
/// "not ours" (nullopt), never an error, so a stray file in a plugin
/// directory or a foreign library in an image is simply passed over.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ferry::hpc {

struct ElfInfo {
  uint16_t machine = 0;  ///< e_machine
  std::string soname;
  std::vector<std::string> needed;   ///< DT_NEEDED, in order
  std::vector<std::string> rpath;    ///< DT_RPATH, split at ':'
  std::vector<std::string> runpath;  ///< DT_RUNPATH, split at ':'
  /// (file, version) pairs: "libc.so.6", "GLIBC_2.34".
  std::vector<std::pair<std::string, std::string>> verneed;
  std::vector<std::string> verdef;  ///< version names this object defines
};

/// Reads the ELF file open at FD. nullopt: not a 64-bit ELF object of the
/// host's byte order with a dynamic section, or malformed.
std::optional<ElfInfo> read_elf(int fd);

/// e_machine of a 64-bit ELF object of the host's byte order at FD, or 0:
/// the cheap test of whether a candidate file is for this machine.
uint16_t elf_machine(int fd);

/// "GLIBC_2.2.5" < "GLIBC_2.34": compares the dotted numbers after the
/// last '_'; false when either has none.
bool version_less(const std::string& a, const std::string& b);

}  // namespace ferry::hpc
