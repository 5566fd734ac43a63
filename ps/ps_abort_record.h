/* Private to ps/: the abort record both kinds of server keep (ps/ps_ops.h). The first abort's code
 * and message win. It is lock-free so that a waiter can read it while holding its shard lock: the
 * first aborter claims it, writes the message, then publishes the code (release); readers load
 * the code (acquire) before the message. */
#ifndef DPT_PS_ABORT_RECORD_H
#define DPT_PS_ABORT_RECORD_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#include "dpt/status.h"

typedef struct ps_abort_record {
  atomic_int claimed; /* the first aborter claims the record... */
  atomic_int code;    /* ...and publishes it here once msg is written */
  char msg[DPT_ERR_MSG_MAX];
} ps_abort_record;

static inline void ps_abort_record_init(ps_abort_record *r)
{
  atomic_init(&r->claimed, 0);
  atomic_init(&r->code, 0);
}

/* Records code (0 counts as DPT_EABORTED) and why, unless an abort came first. */
static inline void ps_abort_record_set(ps_abort_record *r, int code, const char *why)
{
  int unclaimed = 0;
  if (!atomic_compare_exchange_strong(&r->claimed, &unclaimed, 1)) return;
  snprintf(r->msg, sizeof r->msg, "%s", why ? why : "ps: aborted");
  atomic_store_explicit(&r->code, code ? code : DPT_EABORTED, memory_order_release);
}

/* The abort code, 0 while running. */
static inline int ps_abort_record_code(ps_abort_record *r)
{
  return atomic_load_explicit(&r->code, memory_order_acquire);
}

/* Copies the record into err and returns its code (DPT_OK while running). */
static inline int ps_abort_record_error(ps_abort_record *r, dpt_err *err)
{
  int code = ps_abort_record_code(r);
  return code ? dpt_err_set(err, code, "%s", r->msg) : DPT_OK;
}

/* A failure that aborts the server it happened in: formats the message, aborts through abort(impl)
 * and records the message in err too; returns code. Each kind's fail function wraps it. */
static inline int ps_fail_through(void (*abort)(void *impl, int code, const char *why), void *impl,
                                  dpt_err *err, int code, const char *fmt, va_list ap)
{
  char msg[DPT_ERR_MSG_MAX];
  vsnprintf(msg, sizeof msg, fmt, ap);
  abort(impl, code, msg);
  return dpt_err_set(err, code, "%s", msg);
}

#endif
