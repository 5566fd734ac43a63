# Included by the top-level CMakeLists.txt, so that MPI::MPI_C and the variables below are seen by
# every directory (mpi/, host/, tests, bench/). Reads DPT_MPI (AUTO, ON, OFF) and sets
# DPT_HAVE_MPI, DPT_MPI_SUMMARY and, when MPI is built, DPT_MPIEXEC (the launcher the tests use).
# mpi/CMakeLists.txt picks the sources: the MPI ones, or their *_absent.c stubs.
dpt_require_auto_on_off(DPT_MPI)

set(DPT_HAVE_MPI OFF)
if(DPT_MPI STREQUAL "OFF")
  set(DPT_MPI_SUMMARY "OFF (DPT_MPI=OFF)")
else()
  find_package(MPI COMPONENTS C QUIET)
  if(MPI_C_FOUND AND MPIEXEC_EXECUTABLE)
    set(DPT_HAVE_MPI ON)
    set(DPT_MPIEXEC ${MPIEXEC_EXECUTABLE})
    set(DPT_MPI_SUMMARY "ON (MPI ${MPI_C_VERSION}, ${MPIEXEC_EXECUTABLE})")
  elseif(DPT_MPI STREQUAL "ON")
    message(FATAL_ERROR "DPT_MPI=ON but no MPI for C (mpicc and mpiexec) was found: install "
                        "libopenmpi-dev and openmpi-bin, or use DPT_MPI=AUTO or OFF")
  else()
    set(DPT_MPI_SUMMARY "OFF (no MPI found)")
  endif()
endif()
