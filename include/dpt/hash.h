/* 64-bit FNV-1a over bytes: params_hash in reports, checksums in file formats. */
#ifndef DPT_HASH_H
#define DPT_HASH_H

#include <stddef.h>
#include <stdint.h>

#define DPT_HASH_INIT 0xcbf29ce484222325ULL

uint64_t dpt_hash_bytes(uint64_t h, const void *data, size_t len);

#endif
