#include "dpt/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/msg_fit.h"

int dpt_err_set(dpt_err *err, int code, const char *fmt, ...)
{
  if (!err || err->code != DPT_OK) return code;
  err->code = code;
  va_list ap, again;
  va_start(ap, fmt);
  va_copy(again, ap);
  int len = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  /* Too long (long paths): formatted whole on the heap, then fitted with its reason kept. Without
   * memory for that the message stays cut at its end. */
  char *whole = len >= (int)sizeof err->msg ? malloc((size_t)len + 1) : NULL;
  if (whole) {
    vsnprintf(whole, (size_t)len + 1, fmt, again);
    size_t fitted = dpt_msg_fit(whole, (size_t)len, sizeof err->msg);
    memcpy(err->msg, whole, fitted + 1);
    free(whole);
  }
  va_end(again);
  return code;
}

void dpt_err_clear(dpt_err *err)
{
  err->code = DPT_OK;
  err->msg[0] = '\0';
}

int dpt_exit_status(int code)
{
  if (code == DPT_OK) return 0;
  if (code == DPT_EINTERRUPTED) return 130;
  return code == DPT_EINPUT ? 2 : 1;
}

const char *dpt_code_name(int code)
{
  switch (code) {
  case DPT_OK: return "ok";
  case DPT_EINPUT: return "bad input";
  case DPT_ENOMEM: return "out of memory";
  case DPT_EIO: return "I/O error";
  case DPT_EDEVICE: return "device error";
  case DPT_ECOMM: return "communication error";
  case DPT_ETIMEOUT: return "timeout";
  case DPT_EABORTED: return "aborted";
  case DPT_ENONFINITE: return "non-finite values";
  case DPT_EINTERRUPTED: return "interrupted";
  case DPT_EDIVERGED: return "diverged";
  default: return "internal error";
  }
}
