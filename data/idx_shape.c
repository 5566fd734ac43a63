#include "data/idx_shape.h"

#include <stdio.h>

bool idx_dims_product(const uint32_t *dims, int first, int rank, size_t *out)
{
  size_t n = 1;
  for (int i = first; i < rank; i++) {
    if (dims[i] != 0 && n > SIZE_MAX / dims[i]) return false;
    n *= dims[i];
  }
  *out = n;
  return true;
}

char *idx_dims_format(const uint32_t *dims, int rank, char *buf)
{
  size_t len = 0;
  buf[0] = '\0';
  for (int i = 0; i < rank && i < DPT_IDX_MAX_RANK; i++)
    len += (size_t)snprintf(buf + len, IDX_DIMS_STR_MAX - len, i ? "x%u" : "%u", (unsigned)dims[i]);
  return buf;
}
