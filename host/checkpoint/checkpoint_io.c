#include "host/checkpoint/checkpoint_io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dpt/timer.h"
#include "dpt/atomic_file.h"

typedef struct file_out {
  FILE *f;
  const char *path;
} file_out;

static int put_file(void *ctx, const void *bytes, size_t n, dpt_err *err)
{
  file_out *o = ctx;
  if (fwrite(bytes, 1, n, o->f) == n) return DPT_OK;
  return dpt_err_set(err, DPT_EIO, "%s: cannot write: %s", o->path, strerror(errno));
}

int dpt_checkpoint_write_file(const char *path, const dpt_checkpoint *ck, double slow_save_s,
                              dpt_err *err)
{
  dpt_atomic_file af;
  dpt_err why = {0};
  /* By now the path was checked at start-up: a failure here is the system's, not the user's. */
  if (dpt_atomic_open(&af, path, &why)) return dpt_err_set(err, DPT_EIO, "%s", why.msg);
  file_out out = {af.f, path};
  int rc = dpt_checkpoint_encode(ck, put_file, &out, err);
  if (rc) {
    dpt_atomic_discard(&af);
    return rc;
  }
  if (slow_save_s > 0) {
    fflush(af.f);
    dpt_sleep(slow_save_s);
  }
  return dpt_atomic_commit(&af, err);
}

/* The decoder checks the size against the header. */
int dpt_checkpoint_read_bytes(const char *path, const char *name, uint8_t **out, size_t *len,
                              dpt_err *err)
{
  FILE *f = fopen(path, "rb");
  if (!f) return dpt_err_set(err, DPT_EINPUT, "%s: cannot open: %s", name, strerror(errno));
  struct stat st;
  int rc = DPT_OK;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
    rc = dpt_err_set(err, DPT_EINPUT, "%s: not a regular file", name);
  size_t size = rc ? 0 : (size_t)st.st_size;
  uint8_t *buf = rc ? NULL : malloc(size ? size : 1);
  if (!rc && !buf)
    rc = dpt_err_set(err, DPT_ENOMEM, "%s: out of memory for %zu bytes", name, size);
  if (!rc && fread(buf, 1, size, f) != size)
    rc = dpt_err_set(err, DPT_EINPUT, "%s: cannot read: %s", name,
                     ferror(f) ? strerror(errno) : "shorter than its size");
  fclose(f);
  if (rc) {
    free(buf);
    return rc;
  }
  *out = buf;
  *len = size;
  return DPT_OK;
}

int dpt_checkpoint_read_file(const char *path, const char *name, dpt_checkpoint *out,
                             dpt_err *err)
{
  memset(out, 0, sizeof *out);
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = dpt_checkpoint_read_bytes(path, name, &buf, &len, err);
  if (rc) return rc;
  rc = dpt_checkpoint_decode(buf, len, name, out, err);
  free(buf);
  return rc;
}
