# Included by the top-level CMakeLists.txt (enable_language must run in the directory above every
# target that links CUDA objects: host/ programs link dpt_kernels). Reads DPT_CUDA (AUTO, ON, OFF)
# and DPT_CUDA_EMU, and sets DPT_HAVE_CUDA (DPT_CUDA_EMULATED too when the CUDA path runs on the
# emulated device), plus DPT_CUDA_OFF_REASON when the CUDA path is not built.
# kernels/CMakeLists.txt does the rest (toolkit libraries, flags, NCCL).
#
# CMake 3.25 with nvcc 13 works with one limit: CMake 3.25 knows nvcc's flags up to C++17 (asking
# for CUDA 20 fails at enable_language), so the CUDA sources are C++17.
dpt_require_auto_on_off(DPT_CUDA)

set(DPT_HAVE_CUDA OFF)
set(DPT_CUDA_EMULATED OFF)
if(DPT_CUDA_EMU)
  # The emulated device (emu/, docs/emulator.md): the CUDA host code is compiled by the C compiler
  # against the toolkit's headers and linked with the emulator; no nvcc, no CUDA libraries.
  find_path(DPT_CUDA_INCLUDE_DIR cuda_runtime_api.h HINTS ${CUDAToolkit_ROOT} ENV CUDA_HOME
            /usr/local/cuda PATH_SUFFIXES include)
  find_path(DPT_CUBLAS_INCLUDE_DIR cublas_v2.h HINTS ${DPT_CUDA_INCLUDE_DIR})
  find_path(DPT_NCCL_INCLUDE_DIR nccl.h HINTS ${NCCL_HOME} ENV NCCL_HOME ${DPT_CUDA_INCLUDE_DIR}
            PATH_SUFFIXES include)
  if(NOT DPT_CUDA_INCLUDE_DIR OR NOT DPT_CUBLAS_INCLUDE_DIR OR NOT DPT_NCCL_INCLUDE_DIR)
    message(FATAL_ERROR "DPT_CUDA_EMU=ON needs the CUDA toolkit's headers (cuda_runtime_api.h, "
                        "cublas_v2.h, nccl.h): set CUDAToolkit_ROOT or NCCL_HOME")
  endif()
  set(DPT_HAVE_CUDA ON)
  set(DPT_CUDA_EMULATED ON)
elseif(DPT_CUDA STREQUAL "OFF")
  set(DPT_CUDA_OFF_REASON "DPT_CUDA=OFF")
else()
  # The toolkit's usual home, unless the user named a compiler: nvcc is rarely on PATH.
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(ENV{CUDACXX} /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    # sm_80 and sm_90 machine code plus compute_90 PTX for later GPUs. Set before enable_language,
    # which would otherwise take nvcc's default (sm_75); never "native": the build machine may
    # have no GPU, and a binary must not depend on where it was built.
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES "80-real;90")
    endif()
    # kernels/CMakeLists.txt links the shared CUDA::cudart itself; CMake's default would add the
    # static runtime too, and two runtimes in one program do not share devices or streams.
    set(CMAKE_CUDA_RUNTIME_LIBRARY None)
    set(CMAKE_CUDA_STANDARD 17)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    enable_language(CUDA)
    set(DPT_HAVE_CUDA ON)
  elseif(DPT_CUDA STREQUAL "ON")
    message(FATAL_ERROR "DPT_CUDA=ON but no working CUDA compiler (nvcc) was found: "
                        "set CMAKE_CUDA_COMPILER or CUDACXX, or use DPT_CUDA=AUTO or OFF")
  else()
    set(DPT_CUDA_OFF_REASON "nvcc not found")
  endif()
endif()
