/* Status codes and the error record every fallible function fills.
 * Functions return 0 or a DPT_E* code; only host/main.c turns a code into an exit status. */
#ifndef DPT_STATUS_H
#define DPT_STATUS_H

#include <stddef.h>

enum {
  DPT_OK = 0,
  DPT_EINPUT,    /* bad input: a file, an option, a value (exit status 2) */
  DPT_ENOMEM,    /* allocation failed */
  DPT_EIO,       /* the system failed us while reading or writing */
  DPT_EDEVICE,   /* a device, CUDA or cuBLAS call failed */
  DPT_ECOMM,     /* a collective or the parameter server failed */
  DPT_ETIMEOUT,  /* a blocking wait exceeded its timeout */
  DPT_EABORTED,  /* woken because another thread failed first */
  DPT_EINTERNAL, /* a broken invariant: a bug */
  DPT_ENONFINITE,  /* training produced NaN or Inf (--on-nan stop) */
  DPT_EINTERRUPTED, /* stopped on request (a signal) at a step boundary: not a failure */
  DPT_EDIVERGED    /* --on-nan skip skipped more than --max-skips steps in a row: every worker of
                    * every process stopped after the same step (exit status 1) */
};

/* Room for a path of PATH_MAX (4096) bytes and the text around it; a longer message has its
 * longest words (paths) shortened in the middle so that its reason stays (dpt/msg_fit.h). */
#define DPT_ERR_MSG_MAX 5120

typedef struct dpt_err {
  int code;                   /* 0 while no error was recorded */
  char msg[DPT_ERR_MSG_MAX];  /* "<where>: <what>", without the "dptrain: error: " prefix */
} dpt_err;

/* Records the error (the first one wins: a later call keeps the earlier message) and returns code.
 * err may be NULL. */
int dpt_err_set(dpt_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears the record. */
void dpt_err_clear(dpt_err *err);

/* Exit status for a code: 0 for DPT_OK, 2 for DPT_EINPUT, 130 (128 + SIGINT, as shells report an
 * interrupted command; main uses 128 + the actual signal) for DPT_EINTERRUPTED, 1 otherwise. */
int dpt_exit_status(int code);

const char *dpt_code_name(int code);

#endif
