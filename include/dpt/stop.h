/* A stop request that a long operation polls between its pieces (files, reads, chunks): typically
 * the flag a signal handler sets, behind a function. */
#ifndef DPT_STOP_H
#define DPT_STOP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct dpt_stop_check {
  bool (*requested)(void *ctx); /* NULL: never; keep it cheap (an atomic read) */
  void *ctx;
} dpt_stop_check;

/* stop may be NULL: never. */
static inline bool dpt_stop_requested(const dpt_stop_check *stop)
{
  return stop && stop->requested && stop->requested(stop->ctx);
}

#endif
