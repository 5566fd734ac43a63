/* Edits an encoded checkpoint in memory and recomputes its checksums, so that a test or fuzzer
 * reaches the decoder's field checks behind them (host/checkpoint/checkpoint_format.h gives the offsets). */
#ifndef DPT_TESTS_LIB_CHECKPOINT_PATCH_H
#define DPT_TESTS_LIB_CHECKPOINT_PATCH_H

#include <stddef.h>
#include <stdint.h>

enum {
  DPT_CKPT_VERSION_AT = 8,
  DPT_CKPT_PAYLOAD_BYTES_AT = 16,
  DPT_CKPT_PAYLOAD_CHECKSUM_AT = 24,
  DPT_CKPT_PROCESSES_AT = 116,
  DPT_CKPT_HEADER_CHECKSUM_AT = 120
};

/* Sets the little-endian u32 header field at `at` and recomputes the header checksum. */
void dpt_ckpt_set_u32(uint8_t *bytes, size_t at, uint32_t v);

/* Recomputes both checksums of bytes[0..len), len >= DPT_CHECKPOINT_HEADER_BYTES. */
void dpt_ckpt_rehash(uint8_t *bytes, size_t len);

/* The bytes of a version 4 checkpoint (bytes[0..*len) as the encoder writes it) turned into its
 * version 3 twin: 512 bytes shorter (no model text), both checksums recomputed. */
void dpt_ckpt_make_version_3(uint8_t *bytes, size_t *len);

/* ... or into its version 2 twin: 536 bytes shorter (no data set and epoch fields either), with
 * version 2 and the reserved 0 for the steps skipped in a row. */
void dpt_ckpt_make_version_2(uint8_t *bytes, size_t *len);

/* The reverse, into a buffer of *len + 536 bytes: what the encoder writes for a decoded version 1
 * to 3 file (version 4, 1 process for version 1, nothing recorded in the added fields, the model
 * text of the MLP the sizes give). */
void dpt_ckpt_make_current(uint8_t *bytes, size_t *len);

#endif
