#include "tests/lib/checkpoint_patch.h"

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
