# Locates LibTorch and defines the interface target `osv::torch`.
#
# Where LibTorch comes from, first match wins:
#   1. Torch_DIR or CMAKE_PREFIX_PATH given by the user (their own LibTorch, CPU or CUDA);
#   2. the torch wheel of the project's virtual environment ($OSVBENCH_VENV, made by
#      scripts/setup.sh), or of `python3` on PATH, via torch.utils.cmake_prefix_path.
#
# CPU builds (OSVBENCH_WITH_CUDA=OFF) do not include TorchConfig.cmake: a CUDA wheel's
# config insists on finding a CUDA toolkit even when nothing CUDA is used. They link
# libtorch_cpu + libc10 directly with the ABI flag read from TorchConfig.cmake, which works
# for CPU-only and CUDA LibTorch alike. CUDA builds use the stock find_package(Torch).

function(_osv_torch_prefix_from_python out)
  set(_candidates "")
  if(DEFINED ENV{OSVBENCH_VENV})
    list(APPEND _candidates "$ENV{OSVBENCH_VENV}/bin/python")
  endif()
  # The venvs scripts/setup.sh makes, when OSVBENCH_VENV is not exported.
  if(DEFINED ENV{XDG_CACHE_HOME})
    set(_cache "$ENV{XDG_CACHE_HOME}/osvbench")
  else()
    set(_cache "$ENV{HOME}/.cache/osvbench")
  endif()
  file(GLOB _venvs "${_cache}/venv-torch-*/bin/python")
  list(APPEND _candidates ${_venvs} python3)
  foreach(py IN LISTS _candidates)
    execute_process(COMMAND ${py} -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
                    OUTPUT_VARIABLE _p OUTPUT_STRIP_TRAILING_WHITESPACE
                    RESULT_VARIABLE _rc ERROR_QUIET)
    if(_rc EQUAL 0 AND EXISTS "${_p}/Torch/TorchConfig.cmake")
      set(${out} "${_p}" PARENT_SCOPE)
      set(OSV_TORCH_PYTHON "${py}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  set(${out} "" PARENT_SCOPE)
endfunction()

find_file(OSV_TORCH_CONFIG TorchConfig.cmake
          HINTS ${Torch_DIR} ENV Torch_DIR
          PATH_SUFFIXES share/cmake/Torch Torch)
# The Python whose torch provides LibTorch also runs the parity references (tests/parity).
_osv_torch_prefix_from_python(_py_prefix)
if(OSV_TORCH_PYTHON)
  set(OSVBENCH_PYTHON "${OSV_TORCH_PYTHON}" CACHE FILEPATH "Python with torch, diffusers, transformers (parity tests)")
endif()
if(NOT OSV_TORCH_CONFIG)
  if(_py_prefix)
    set(OSV_TORCH_CONFIG "${_py_prefix}/Torch/TorchConfig.cmake" CACHE FILEPATH "LibTorch config" FORCE)
  endif()
endif()
if(NOT OSV_TORCH_CONFIG)
  message(FATAL_ERROR
    "LibTorch not found. Run scripts/setup.sh (creates the venv with the pinned torch wheel) "
    "and export OSVBENCH_VENV, or pass -DTorch_DIR=/path/to/libtorch/share/cmake/Torch.")
endif()
get_filename_component(_torch_cfg_dir "${OSV_TORCH_CONFIG}" DIRECTORY)
get_filename_component(OSV_TORCH_PREFIX "${_torch_cfg_dir}/../../.." ABSOLUTE)

# Version from the LibTorch headers (TORCH_VERSION_MAJOR/MINOR/PATCH; the header moved
# between releases).
set(OSV_TORCH_VERSION "unknown")
foreach(_h include/torch/headeronly/version.h include/torch/csrc/api/include/torch/version.h)
  if(EXISTS "${OSV_TORCH_PREFIX}/${_h}")
    file(STRINGS "${OSV_TORCH_PREFIX}/${_h}" _v REGEX "#define TORCH_VERSION_(MAJOR|MINOR|PATCH) ")
    if(_v)
      string(REGEX REPLACE ".*MAJOR ([0-9]+).*MINOR ([0-9]+).*PATCH ([0-9]+).*" "\\1.\\2.\\3" OSV_TORCH_VERSION "${_v}")
      break()
    endif()
  endif()
endforeach()

add_library(osv_torch INTERFACE)
add_library(osv::torch ALIAS osv_torch)

# The torch wheels export copies of std::filesystem functions (libtorch.so's remove_all jumps
# through a null pointer when called from outside). Listing libstdc++ first among the shared
# libraries makes the dynamic linker resolve those names to the real libstdc++.
target_link_options(osv_torch INTERFACE "LINKER:--push-state,--no-as-needed,-lstdc++,--pop-state")

if(OSVBENCH_WITH_CUDA)
  # Caffe2's CUDA probe compiles a test program with the project's C++ standard, which nvcc's
  # CMake support does not accept as CUDA20; and without an architecture list it runs that
  # program to detect GPUs, which fails on a build machine without one. osvbench compiles no
  # kernels of its own, so the list only affects flags.
  set(CMAKE_CUDA_STANDARD 17)
  set(OSVBENCH_CUDA_ARCH_LIST "8.0;9.0" CACHE STRING "TORCH_CUDA_ARCH_LIST for the CUDA build")
  if(NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
    set(TORCH_CUDA_ARCH_LIST "${OSVBENCH_CUDA_ARCH_LIST}")
  endif()
  set(Torch_DIR "${_torch_cfg_dir}")
  find_package(Torch REQUIRED CONFIG)
  target_link_libraries(osv_torch INTERFACE ${TORCH_LIBRARIES})
  separate_arguments(_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
  target_compile_options(osv_torch INTERFACE ${_flags})
  set(OSV_TORCH_MODE "find_package, CUDA")
else()
  file(STRINGS "${OSV_TORCH_CONFIG}" _abi REGEX "_GLIBCXX_USE_CXX11_ABI=[01]")
  string(REGEX MATCH "_GLIBCXX_USE_CXX11_ABI=[01]" _abi "${_abi}")
  if(NOT _abi)
    set(_abi "_GLIBCXX_USE_CXX11_ABI=1")
  endif()
  foreach(lib torch_cpu c10)
    find_library(OSV_TORCH_LIB_${lib} ${lib} PATHS "${OSV_TORCH_PREFIX}/lib" NO_DEFAULT_PATH REQUIRED)
    target_link_libraries(osv_torch INTERFACE "${OSV_TORCH_LIB_${lib}}")
  endforeach()
  target_include_directories(osv_torch SYSTEM INTERFACE
    "${OSV_TORCH_PREFIX}/include"
    "${OSV_TORCH_PREFIX}/include/torch/csrc/api/include")
  target_compile_definitions(osv_torch INTERFACE ${_abi})
  set(OSV_TORCH_MODE "direct, CPU")
endif()
