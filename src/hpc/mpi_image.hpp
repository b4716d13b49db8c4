/// The image side of MPI injection, run by the runtime once the image is
/// mounted (runtime::ImageInspector): which files the image's loader would
/// load for the MPICH-ABI sonames, and whether the image's glibc and
/// compiler runtimes define every symbol version the host MPI needs.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ferry/runtime/container_spec.hpp"
#include "mpi_host.hpp"

namespace ferry::hpc {

/// The binds that put HOST's MPI in place of the image's (see mpi.hpp).
/// `ld_library_path`: the image's LD_LIBRARY_PATH directories. Throws a
/// one-line Error when the image has no MPICH-ABI library or is too old.
std::vector<runtime::Mount> inject_mpi(const HostMpi& host, runtime::ImageRoot& image,
                                       const std::vector<std::string>& ld_library_path);

/// The other names of an MPICH-ABI soname: libmpich.so.12 <-> libmpi.so.12,
/// libmpichcxx.so.12 <-> libmpicxx.so.12, libmpichfort.so.12 <-> libmpifort.so.12.
std::vector<std::string> mpich_abi_names(const std::string& soname);

}  // namespace ferry::hpc
