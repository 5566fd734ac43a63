/* Arrays of per-worker records that each sit on their own cache lines, so
 * workers updating neighbouring records never false-share. */
#ifndef DPT_CACHE_LINES_H
#define DPT_CACHE_LINES_H

#include <stdlib.h>
#include <string.h>

#define DPT_CACHE_LINE 64

/* n zeroed records of record_size bytes, 64-byte aligned, or NULL. Declare the record's first
 * member alignas(DPT_CACHE_LINE): its size is then a multiple of 64, as aligned_alloc wants. */
static inline void *dpt_cache_lines_alloc(size_t n, size_t record_size)
{
  void *p = aligned_alloc(DPT_CACHE_LINE, n * record_size);
  if (p) memset(p, 0, n * record_size);
  return p;
}

/* bytes zeroed, rounded up to whole cache lines and aligned to one, or NULL: a buffer that no
 * neighbouring allocation shares a line with. */
static inline void *dpt_cache_aligned_alloc(size_t bytes)
{
  size_t lines = bytes / DPT_CACHE_LINE + (bytes % DPT_CACHE_LINE != 0) + (bytes == 0);
  return dpt_cache_lines_alloc(lines, DPT_CACHE_LINE);
}

#endif
