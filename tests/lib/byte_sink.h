/* A growable in-memory byte sink: the writer callback dpt_checkpoint_encode takes, for tests and
 * fuzzers that encode into memory. */
#ifndef DPT_TESTS_LIB_BYTE_SINK_H
#define DPT_TESTS_LIB_BYTE_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "dpt/status.h"

typedef struct dpt_byte_sink {
  uint8_t *bytes; /* malloc'd; free() it */
  size_t len, cap;
} dpt_byte_sink;

/* Appends n bytes to the sink ctx; DPT_ENOMEM when it cannot grow. */
int dpt_byte_sink_put(void *ctx, const void *bytes, size_t n, dpt_err *err);

#endif
