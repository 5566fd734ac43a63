/* dpt_idx_write: an IDX file written atomically. The bytes go to a temporary file in the target's
 * directory (so rename cannot cross file systems), are synced, then renamed over the target: a
 * reader sees the old file or the complete new one, never a partial write. */
#include "dpt/data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data/idx_gz.h"
#include "data/idx_shape.h"

/* write() and gzwrite() move at most this much per call (gzwrite counts in int). */
#define WRITE_CHUNK ((size_t)64 << 20)

static int write_raw(int fd, const char *path, const uint8_t *bytes, size_t n, dpt_err *err)
{
  while (n > 0) {
    ssize_t w = write(fd, bytes, n < WRITE_CHUNK ? n : WRITE_CHUNK);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return dpt_err_set(err, DPT_EIO, "%s: cannot write: %s", path, strerror(errno));
    bytes += w;
    n -= (size_t)w;
  }
  return DPT_OK;
}

static int gz_write_all(gzFile gz, const uint8_t *bytes, size_t n)
{
  while (n > 0) {
    unsigned len = (unsigned)(n < WRITE_CHUNK ? n : WRITE_CHUNK);
    if (gzwrite(gz, bytes, len) != (int)len) return -1;
    bytes += len;
    n -= len;
  }
  return 0;
}

/* zlib closes the descriptor it is given, so it gets a duplicate: fd stays open for fsync. */
static int write_gzip(int fd, const char *path, const uint8_t *head, size_t head_len,
                      const uint8_t *data, size_t size, dpt_err *err)
{
  int dup_fd = dup(fd);
  if (dup_fd < 0) return dpt_err_set(err, DPT_EIO, "%s: cannot write: %s", path, strerror(errno));
  gzFile gz = gzdopen(dup_fd, "wb");
  if (!gz) {
    close(dup_fd);
    return dpt_err_set(err, DPT_ENOMEM, "%s: out of memory starting gzip", path);
  }
  gzbuffer(gz, IDX_GZ_BUFFER);
  int rc = DPT_OK;
  if (gz_write_all(gz, head, head_len) || gz_write_all(gz, data, size)) {
    int code;
    const char *msg = idx_gz_error(gz, &code);
    rc = dpt_err_set(err, code == Z_MEM_ERROR ? DPT_ENOMEM : DPT_EIO, "%s: cannot write: %s",
                     path, msg);
  }
  /* Closing flushes the compressor's tail: its failure (e.g. disk full) is a failed write. */
  int zrc = gzclose_w(gz);
  if (!rc && zrc != Z_OK)
    rc = dpt_err_set(err, DPT_EIO, "%s: cannot write: %s", path,
                     zrc == Z_ERRNO ? strerror(errno) : zError(zrc));
  return rc;
}

static int write_and_sync(int fd, const char *path, const uint8_t *head, size_t head_len,
                          const uint8_t *data, size_t size, int gzip, dpt_err *err)
{
  int rc = gzip ? write_gzip(fd, path, head, head_len, data, size, err)
                : write_raw(fd, path, head, head_len, err);
  if (!rc && !gzip) rc = write_raw(fd, path, data, size, err);
  if (!rc && fsync(fd) != 0)
    rc = dpt_err_set(err, DPT_EIO, "%s: cannot sync: %s", path, strerror(errno));
  return rc;
}

int dpt_idx_write(const char *path, int rank, const uint32_t *dims, const uint8_t *data, int gzip,
                  dpt_err *err)
{
  if (rank < 1 || rank > DPT_IDX_MAX_RANK)
    return dpt_err_set(err, DPT_EINPUT, "%s: cannot write rank %d: IDX rank is 1..%d", path, rank,
                       DPT_IDX_MAX_RANK);
  size_t size;
  if (!idx_dims_product(dims, 0, rank, &size)) {
    char dims_str[IDX_DIMS_STR_MAX];
    return dpt_err_set(err, DPT_EINPUT, "%s: cannot write %s: its size overflows size_t", path,
                       idx_dims_format(dims, rank, dims_str));
  }
  uint8_t head[4 + 4 * DPT_IDX_MAX_RANK] = {0, 0, 0x08, (uint8_t)rank};
  for (int i = 0; i < rank; i++) {
    uint8_t *b = head + 4 + 4 * i;
    b[0] = (uint8_t)(dims[i] >> 24);
    b[1] = (uint8_t)(dims[i] >> 16);
    b[2] = (uint8_t)(dims[i] >> 8);
    b[3] = (uint8_t)dims[i];
  }

  static const char suffix[] = ".tmp.XXXXXX";
  size_t path_len = strlen(path);
  char *tmp = malloc(path_len + sizeof suffix);
  if (!tmp) return dpt_err_set(err, DPT_ENOMEM, "%s: out of memory", path);
  memcpy(tmp, path, path_len);
  memcpy(tmp + path_len, suffix, sizeof suffix);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    int rc = dpt_err_set(err, DPT_EIO, "%s: cannot create a temporary file beside it: %s", path,
                         strerror(errno));
    free(tmp);
    return rc;
  }
  /* mkstemp makes the file private (0600); a data set is an ordinary readable file. */
  fchmod(fd, 0644);
  int rc = write_and_sync(fd, path, head, 4 + 4 * (size_t)rank, data, size, gzip, err);
  if (close(fd) != 0 && !rc)
    rc = dpt_err_set(err, DPT_EIO, "%s: cannot write: %s", path, strerror(errno));
  if (!rc && rename(tmp, path) != 0)
    rc = dpt_err_set(err, DPT_EIO, "%s: cannot rename %s into place: %s", path, tmp,
                     strerror(errno));
  if (rc) unlink(tmp);
  free(tmp);
  return rc;
}
