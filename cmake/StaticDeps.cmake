# Start-up time is a feature (bench/launch): every shared library ferry loads
# costs page faults and relocations at each container start, ~0.1 ms apiece
# on a VM. The FUSE and SquashFS libraries and the five decompressors that
# libsquashfuse pulls in are therefore linked from Debian's static archives
# when they are installed (libfuse3-dev, libsquashfuse-dev, lib*-dev ship
# them). glibc stays shared (NSS lookups of the user need it). libstdc++ and
# libgcc are linked statically into the ferry binary (FERRY_STATIC_CXX): the
# dynamic loader's work on libstdc++.so was half of every start, `perf stat
# -r 300 ferry --version` on the 2-CPU VM gave 1.8-3.5 ms of CPU shared and
# 1.0-1.5 ms static, 179 page faults against 140 (an earlier measurement of a
# whole container start had found it slower; this one is of ferry alone,
# interleaved, three times).
option(FERRY_STATIC_DEPS "Link FUSE, squashfuse and compressors statically" ON)

add_library(ferry_fuse_deps INTERFACE)
set(_static_names fuse3 squashfuse_ll squashfuse zstd z lzma lz4 lzo2)
set(_static_libs "")
if(FERRY_STATIC_DEPS)
  foreach(name ${_static_names})
    find_library(FERRY_STATIC_${name} NAMES lib${name}.a)
    if(NOT FERRY_STATIC_${name})
      message(STATUS "ferry: lib${name}.a not found, linking FUSE/SquashFS shared")
      set(_static_libs "")
      break()
    endif()
    list(APPEND _static_libs ${FERRY_STATIC_${name}})
  endforeach()
endif()
if(_static_libs)
  target_include_directories(ferry_fuse_deps INTERFACE ${FUSE3_INCLUDE_DIRS} ${SQUASHFUSE_INCLUDE_DIRS})
  target_compile_options(ferry_fuse_deps INTERFACE ${FUSE3_CFLAGS_OTHER})
  target_link_libraries(ferry_fuse_deps INTERFACE ${_static_libs} Threads::Threads ${CMAKE_DL_LIBS})
else()
  target_link_libraries(ferry_fuse_deps INTERFACE PkgConfig::FUSE3 PkgConfig::SQUASHFUSE)
endif()

# A fully static ferry starts ~1.5 ms faster (no dynamic loader, no libstdc++
# relocations; bench/launch). The price: glibc's getpwuid() in a static
# binary dlopen()s NSS modules (sss, ldap) that must come from the exact
# glibc version it was linked with. Right for a site that builds ferry with
# its own glibc; off by default.
option(FERRY_STATIC "Link the ferry binary fully static (see cmake/StaticDeps.cmake)" OFF)
option(FERRY_STATIC_CXX "Link libstdc++ and libgcc into the ferry binary (see cmake/StaticDeps.cmake)" ON)

# Nettle (SHA-256) likewise: one small archive member, no start-up cost.
# (OpenSSL's libcrypto was tried: shared, its relocations cost ~2M
# instructions per start; static, its EVP tables add ~18,000 relocations and
# ~120 page faults per start.)
pkg_check_modules(NETTLE REQUIRED IMPORTED_TARGET nettle)
add_library(ferry_crypto INTERFACE)
find_library(FERRY_STATIC_nettle NAMES libnettle.a)
if(FERRY_STATIC_DEPS AND FERRY_STATIC_nettle)
  target_include_directories(ferry_crypto INTERFACE ${NETTLE_INCLUDE_DIRS})
  target_link_libraries(ferry_crypto INTERFACE ${FERRY_STATIC_nettle})
else()
  target_link_libraries(ferry_crypto INTERFACE PkgConfig::NETTLE)
endif()
