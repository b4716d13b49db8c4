# Warning and hardening flags for every target of ours (STYLE.md 19).
# Why each: -Wshadow and -Wconversion-free set because the runtime is mostly
# syscall glue where narrowing is deliberate; -D_FORTIFY_SOURCE and
# -fstack-protector-strong because ferry handles attacker-made images.
add_compile_options(
  -Wall -Wextra -Wpedantic -Wshadow $<$<COMPILE_LANGUAGE:CXX>:-Wnon-virtual-dtor> -Wcast-align
  -Wmissing-declarations -Wformat=2 -Wimplicit-fallthrough
  -fstack-protector-strong -fPIC)
if(NOT CMAKE_BUILD_TYPE STREQUAL "Debug")
  add_compile_definitions(_FORTIFY_SOURCE=2)
endif()
if(FERRY_WERROR)
  add_compile_options(-Werror)
endif()
if(FERRY_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
# relro without "-z now": eager binding of every symbol costs ~0.5 ms at
# each start, which is a quarter of a container launch (bench/launch).
add_link_options(-Wl,-z,relro -Wl,-O1 -Wl,--as-needed)
