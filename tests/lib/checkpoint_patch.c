#include "tests/lib/checkpoint_patch.h"

#include <stdio.h>
#include <string.h>

#include "dpt/hash.h"
#include "host/checkpoint/checkpoint_format.h"

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
  for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void rehash_header(uint8_t *bytes)
{
  put_le(bytes + DPT_CKPT_HEADER_CHECKSUM_AT,
         dpt_hash_bytes(DPT_HASH_INIT, bytes, DPT_CKPT_HEADER_CHECKSUM_AT), 8);
}

void dpt_ckpt_set_u32(uint8_t *bytes, size_t at, uint32_t v)
{
  put_le(bytes + at, v, 4);
  rehash_header(bytes);
}

void dpt_ckpt_rehash(uint8_t *bytes, size_t len)
{
  const uint8_t *payload = bytes + DPT_CHECKPOINT_HEADER_BYTES;
  put_le(bytes + DPT_CKPT_PAYLOAD_CHECKSUM_AT,
         dpt_hash_bytes(DPT_HASH_INIT, payload, len - DPT_CHECKPOINT_HEADER_BYTES), 8);
  rehash_header(bytes);
}

enum {
  V3_TAIL_BYTES = 24,
  V4_MODEL_BYTES = DPT_MODEL_TEXT_MAX,
  LAYERS_AT = 32,
  SIZES_AT = 36,
  IN_A_ROW_AT = DPT_CHECKPOINT_HEADER_BYTES + 56 + 4 /* the position's second field */
};

static uint64_t get_le(const uint8_t *p, int bytes)
{
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static void set_version_and_size(uint8_t *bytes, size_t len, uint32_t version)
{
  put_le(bytes + DPT_CKPT_VERSION_AT, version, 4);
  put_le(bytes + DPT_CKPT_PAYLOAD_BYTES_AT, len - DPT_CHECKPOINT_HEADER_BYTES, 8);
  dpt_ckpt_rehash(bytes, len);
}

void dpt_ckpt_make_version_3(uint8_t *bytes, size_t *len)
{
  *len -= V4_MODEL_BYTES;
  set_version_and_size(bytes, *len, 3);
}

void dpt_ckpt_make_version_2(uint8_t *bytes, size_t *len)
{
  *len -= V4_MODEL_BYTES + V3_TAIL_BYTES;
  put_le(bytes + IN_A_ROW_AT, 0, 4);
  set_version_and_size(bytes, *len, 2);
}

void dpt_ckpt_make_current(uint8_t *bytes, size_t *len)
{
  uint64_t version = get_le(bytes + DPT_CKPT_VERSION_AT, 4);
  if (version == 1) put_le(bytes + DPT_CKPT_PROCESSES_AT, 1, 4);
  if (version < 3) {
    for (int i = 0; i < V3_TAIL_BYTES; i++) bytes[*len + (size_t)i] = 0;
    *len += V3_TAIL_BYTES;
  }
  /* The MLP of the header's sizes, as its text: "fc:4,relu,fc:3". */
  char *model = (char *)bytes + *len;
  memset(model, 0, V4_MODEL_BYTES);
  int layers = (int)get_le(bytes + LAYERS_AT, 4);
  size_t used = 0;
  for (int l = 1; l <= layers; l++)
    used += (size_t)snprintf(model + used, V4_MODEL_BYTES - used, "%sfc:%u%s", l > 1 ? "," : "",
                             (unsigned)get_le(bytes + SIZES_AT + 4 * l, 4),
                             l < layers ? ",relu" : "");
  *len += V4_MODEL_BYTES;
  set_version_and_size(bytes, *len, DPT_CHECKPOINT_VERSION);
}
