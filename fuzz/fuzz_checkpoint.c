/* libFuzzer target for the checkpoint decoder (host/checkpoint/checkpoint_format.c). Each input is decoded
 * twice: as it is, and with both checksums recomputed, since random bytes almost never carry a
 * valid checksum and the field checks behind it would otherwise go unexplored. A decoder must
 * either refuse an input with a message naming it, or accept it, in which case encoding the
 * result gives back the same bytes (the format has one encoding per checkpoint; a version 1 to 3
 * input comes back as its version 4 twin: version 4, 1 process for version 1, zero bytes for the
 * fields it lacks, its MLP's model text, checksums recomputed: tests/lib/checkpoint_patch.h). Anything
 * else (a crash, a leak, undefined behaviour, a nameless error, a different re-encoding) is a
 * finding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/checkpoint/checkpoint_format.h"
#include "tests/lib/byte_sink.h"
#include "tests/lib/checkpoint_patch.h"

/* The bytes an accepted input encodes back to, *size of them (the caller frees them). */
static uint8_t *expected_encoding(const uint8_t *data, size_t *size)
{
  uint8_t *want = malloc(*size + 24 + DPT_MODEL_TEXT_MAX);
  if (!want) abort();
  memcpy(want, data, *size);
  /* Accepted, so the header is whole. */
  if (want[DPT_CKPT_VERSION_AT] < DPT_CHECKPOINT_VERSION) dpt_ckpt_make_current(want, size);
  return want;
}

static void check_one(const uint8_t *data, size_t size)
{
  dpt_checkpoint ck;
  dpt_err err = {0};
  int rc = dpt_checkpoint_decode(data, size, "fuzz-input", &ck, &err);
  if (rc != DPT_OK) {
    if (err.code != rc || strncmp(err.msg, "fuzz-input: ", 12) != 0 || ck.storage) abort();
    return;
  }
  dpt_byte_sink again = {0};
  dpt_err enc = {0};
  if (dpt_checkpoint_encode(&ck, dpt_byte_sink_put, &again, &enc) != DPT_OK) abort();
  size_t want_len = size;
  uint8_t *want = expected_encoding(data, &want_len);
  if (again.len != want_len || memcmp(again.bytes, want, want_len) != 0) abort();
  free(want);
  free(again.bytes);
  dpt_checkpoint_free(&ck);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  check_one(data, size);
  if (size < DPT_CHECKPOINT_HEADER_BYTES) return 0;
  uint8_t *fixed = malloc(size);
  if (!fixed) abort();
  memcpy(fixed, data, size);
  dpt_ckpt_rehash(fixed, size);
  check_one(fixed, size);
  free(fixed);
  return 0;
}
