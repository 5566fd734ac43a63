/* How the GPU test programs learn whether a CUDA device is here. Without one their suites are
 * inactive and the program exits 77 (skipped), saying why in the one line scripts/ctest_skips.sh
 * looks for: "PROGRAM: skipped: REASON". */
#ifndef DPT_TESTS_LIB_CUDA_PRESENT_H
#define DPT_TESTS_LIB_CUDA_PRESENT_H

#include <stddef.h>

/* Number of CUDA devices. When there are none: prints the skip line for program, deactivates
 * the n named suites and returns 0. */
int dpt_test_cuda_devices(const char *program, const char *const *suites, size_t n);

#endif
