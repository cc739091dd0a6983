# Third-party dependencies besides LibTorch. All are Debian packages installed by
# scripts/setup.sh; header-only ones are found as CMake packages.
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
# CLI11 is header-only: its CMake package, or any copy of CLI/CLI.hpp (OSVBENCH_CLI11_INCLUDE_DIR).
find_package(CLI11 2.0 CONFIG QUIET)
if(NOT TARGET CLI11::CLI11)
  find_path(OSVBENCH_CLI11_INCLUDE_DIR CLI/CLI.hpp)
  if(NOT OSVBENCH_CLI11_INCLUDE_DIR)
    message(FATAL_ERROR "CLI11 not found: install libcli11-dev (scripts/setup.sh does) or pass "
                        "-DOSVBENCH_CLI11_INCLUDE_DIR=<folder containing CLI/CLI.hpp>.")
  endif()
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
  target_include_directories(CLI11::CLI11 INTERFACE "${OSVBENCH_CLI11_INCLUDE_DIR}")
endif()
find_package(Eigen3 3.3 REQUIRED NO_MODULE)

# fmt: LibTorch ships its own fmt headers (fmt 11 in torch 2.11) in <prefix>/include/fmt,
# and that include directory precedes /usr/include, so `#include <fmt/format.h>` always sees
# LibTorch's copy. Linking those headers against Debian's libfmt.so (fmt 9) would mix two
# fmt versions (ODR violations, missing symbols). Resolution: when LibTorch bundles fmt, use
# its headers in header-only mode (FMT_HEADER_ONLY) and link no libfmt; otherwise use the
# system fmt package.
add_library(osv_fmt INTERFACE)
add_library(osv::fmt ALIAS osv_fmt)
if(EXISTS "${OSV_TORCH_PREFIX}/include/fmt/format.h")
  target_compile_definitions(osv_fmt INTERFACE FMT_HEADER_ONLY=1)
  target_link_libraries(osv_fmt INTERFACE osv::torch)
  set(OSV_FMT_SOURCE "LibTorch-bundled, header-only")
else()
  find_package(fmt REQUIRED)
  target_link_libraries(osv_fmt INTERFACE fmt::fmt)
  set(OSV_FMT_SOURCE "system fmt ${fmt_VERSION}")
endif()

if(OSVBENCH_WITH_FFMPEG)
  find_package(PkgConfig)
  if(PkgConfig_FOUND)
    pkg_check_modules(OSV_LIBAV IMPORTED_TARGET libavformat libavcodec libavutil libswscale libswresample)
  endif()
  if(NOT OSV_LIBAV_FOUND)
    message(FATAL_ERROR
      "FFmpeg development libraries (libavformat, libavcodec, libavutil, libswscale, libswresample) "
      "not found. Install them (scripts/setup.sh does) or configure with -DOSVBENCH_WITH_FFMPEG=OFF.")
  endif()
endif()

# stb (PNG writing) is header-only; Debian puts it in /usr/include/stb.
find_path(OSV_STB_INCLUDE_DIR stb_image_write.h PATH_SUFFIXES stb)
