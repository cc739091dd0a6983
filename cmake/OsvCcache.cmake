# Compiles through ccache. The sloppiness settings let ccache cache translation units that
# use the precompiled <torch/torch.h> (CMake force-includes it), without them every such
# unit would be a cache miss.
set(OSV_CCACHE OFF)
if(OSVBENCH_USE_CCACHE)
  find_program(OSV_CCACHE_PROGRAM ccache)
  if(OSV_CCACHE_PROGRAM)
    set(CMAKE_CXX_COMPILER_LAUNCHER
        ${CMAKE_COMMAND} -E env
        "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
        "CCACHE_BASEDIR=${CMAKE_SOURCE_DIR}"
        ${OSV_CCACHE_PROGRAM})
    set(OSV_CCACHE ON)
  endif()
endif()
