/* --version's NCCL entry in a build without NCCL (CMake compiles this instead of nccl_info.c). */
#include <stdio.h>

#include "kernels/backends.h"

void dpt_nccl_backend_summary(char *buf, size_t size) { snprintf(buf, size, "nccl: not built"); }
