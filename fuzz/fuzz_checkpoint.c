/* libFuzzer target for the checkpoint decoder (host/checkpoint_format.c). Each input is decoded
 * twice: as it is, and with both checksums recomputed, since random bytes almost never carry a
 * valid checksum and the field checks behind it would otherwise go unexplored. A decoder must
 * either refuse an input with a message naming it, or accept it, in which case encoding the
 * result gives back the same bytes (the format has one encoding per checkpoint). Anything else (a
 * crash, a leak, undefined behaviour, a nameless error, a different re-encoding) is a finding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/hash.h"
#include "host/checkpoint_format.h"
#include "tests/byte_sink.h"

enum { PAYLOAD_CHECKSUM_AT = 24, HEADER_CHECKSUM_AT = 120 };

static void put_le64(uint8_t *p, uint64_t v)
{
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
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
  if (again.len != size || memcmp(again.bytes, data, size) != 0) abort();
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
  const uint8_t *payload = fixed + DPT_CHECKPOINT_HEADER_BYTES;
  put_le64(fixed + PAYLOAD_CHECKSUM_AT,
           dpt_hash_bytes(DPT_HASH_INIT, payload, size - DPT_CHECKPOINT_HEADER_BYTES));
  put_le64(fixed + HEADER_CHECKSUM_AT, dpt_hash_bytes(DPT_HASH_INIT, fixed, HEADER_CHECKSUM_AT));
  check_one(fixed, size);
  free(fixed);
  return 0;
}
