# osv_add_library(<name> SOURCES ... [DEPS ...]): one library per top-level folder, all
# compiled with the same flags so they can share the precompiled <torch/torch.h>.

# The one precompiled header, built once and reused by every target (REUSE_FROM).
if(OSVBENCH_USE_PCH)
  add_library(osv_pch OBJECT "${CMAKE_SOURCE_DIR}/common/pch.cpp")
  target_link_libraries(osv_pch PUBLIC osv::torch osv::fmt nlohmann_json::nlohmann_json)
  target_precompile_headers(osv_pch PRIVATE "${CMAKE_SOURCE_DIR}/common/pch.h")
endif()

function(osv_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  if(OSVBENCH_USE_PCH)
    target_precompile_headers(${target} REUSE_FROM osv_pch)
  endif()
endfunction()

function(osv_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC "${CMAKE_SOURCE_DIR}" "${CMAKE_BINARY_DIR}/generated")
  target_link_libraries(${name} PUBLIC osv::torch osv::fmt nlohmann_json::nlohmann_json ${ARG_DEPS})
  osv_target_defaults(${name})
endfunction()

function(osv_add_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  osv_target_defaults(${name})
endfunction()
