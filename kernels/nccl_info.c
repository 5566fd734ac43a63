/* The NCCL library this program loaded, for --version (built only with NCCL). */
#include <nccl.h>
#include <stdio.h>

#include "kernels/backends.h"

/* The library's version, not the header's: a newer libnccl.so may be found at run time. */
void dpt_nccl_backend_summary(char *buf, size_t size)
{
  int v = 0;
  if (ncclGetVersion(&v) != ncclSuccess || v <= 0) {
    snprintf(buf, size, "nccl (version unknown)");
    return;
  }
  /* X * 10000 + Y * 100 + Z: nccl.h's NCCL_VERSION for 2.9 and later, and this program needs
   * later (non-blocking communicators came in 2.14). */
  snprintf(buf, size, "nccl %d.%d.%d", v / 10000, v / 100 % 100, v % 100);
}
