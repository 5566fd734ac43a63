#include "tests/lib/byte_sink.h"

#include <stdlib.h>
#include <string.h>

int dpt_byte_sink_put(void *ctx, const void *bytes, size_t n, dpt_err *err)
{
  dpt_byte_sink *b = ctx;
  if (b->len + n > b->cap) {
    size_t cap = (b->len + n) * 2;
    uint8_t *p = realloc(b->bytes, cap);
    if (!p) return dpt_err_set(err, DPT_ENOMEM, "byte sink: out of memory for %zu bytes", cap);
    b->bytes = p;
    b->cap = cap;
  }
  memcpy(b->bytes + b->len, bytes, n);
  b->len += n;
  return DPT_OK;
}
