/* idx_source: one data file's bytes, raw or inflated, read without ever blocking for good. */
#include "data/idx_source.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/idx_gz.h"
#include "dpt/timer.h"

#define DEFAULT_WAIT_S 300.0
/* The most one read moves between two stop checks. */
#define READ_PIECE ((size_t)64 << 20)
/* How often a wait for bytes checks for a stop request. */
#define POLL_SLICE_MS 100
/* Input buffers never smaller than this, so that detecting gzip (2 bytes) always has room. */
#define MIN_INPUT 64

static const dpt_data_options no_options;

/* Waits until fd has bytes or its writer left. A FIFO opened without blocking reads as ended
 * while no writer has opened it yet, so nothing is read before poll() says so. */
static int wait_readable(idx_source *s)
{
  const dpt_data_options *o = s->opts;
  double limit = o->wait_s > 0 ? o->wait_s : DEFAULT_WAIT_S, start = dpt_now();
  for (;;) {
    if (dpt_stop_requested(&o->stop))
      return dpt_err_set(s->err, DPT_EINTERRUPTED, "%s: stopped on request while waiting for "
                         "its bytes", s->path);
    struct pollfd p = {.fd = s->fd, .events = POLLIN};
    int n = poll(&p, 1, POLL_SLICE_MS);
    if (n > 0) return DPT_OK; /* bytes, or the writer's end (hang-up, error): read() tells */
    if (n < 0 && errno != EINTR)
      return dpt_err_set(s->err, DPT_EIO, "%s: cannot wait for its bytes: %s", s->path,
                         strerror(errno));
    if (dpt_now() - start >= limit)
      return dpt_err_set(s->err, DPT_ETIMEOUT, "%s: no bytes arrived for %.0f s (a FIFO without "
                         "a writer, or one that stopped writing): see --timeout", s->path, limit);
  }
}

/* Appends bytes from fd after the input not yet consumed; sets fd_ended at the end of the file. */
static int fill(idx_source *s)
{
  if (s->z.avail_in > 0 && s->z.next_in != s->in) memmove(s->in, s->z.next_in, s->z.avail_in);
  s->z.next_in = s->in;
  for (;;) {
    if (s->waits) {
      int rc = wait_readable(s);
      if (rc) return rc;
    }
    ssize_t n = read(s->fd, s->in + s->z.avail_in, s->in_cap - s->z.avail_in);
    if (n > 0) {
      s->z.avail_in += (uInt)n;
      return DPT_OK;
    }
    if (n == 0) {
      s->fd_ended = true;
      return DPT_OK;
    }
    if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
      return dpt_err_set(s->err, DPT_EIO, "%s: read failed: %s", s->path, strerror(errno));
  }
}

static int start_gzip(idx_source *s)
{
  int zr = inflateInit2(&s->z, 15 + 16); /* 15: the largest window; +16: gzip framing only */
  if (zr == Z_MEM_ERROR)
    return dpt_err_set(s->err, DPT_ENOMEM, "%s: out of memory starting gzip", s->path);
  if (zr != Z_OK)
    return dpt_err_set(s->err, DPT_EINTERNAL, "%s: zlib refused to start: %s", s->path,
                       zError(zr));
  s->inflating = true;
  return DPT_OK;
}

static int open_fd(idx_source *s, size_t *size)
{
  /* Without blocking: a FIFO with no writer opens at once (regular files ignore the flag). */
  s->fd = open(s->path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (s->fd < 0)
    return dpt_err_set(s->err, DPT_EINPUT, "%s: cannot open: %s", s->path, strerror(errno));
  struct stat st;
  if (fstat(s->fd, &st) != 0)
    return dpt_err_set(s->err, DPT_EIO, "%s: cannot stat: %s", s->path, strerror(errno));
  if (S_ISDIR(st.st_mode))
    return dpt_err_set(s->err, DPT_EINPUT, "%s: is a directory, not an IDX file", s->path);
  s->waits = !S_ISREG(st.st_mode);
  *size = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size : 0;
  return DPT_OK;
}

int idx_source_open(idx_source *s, const char *path, const dpt_data_options *opts, dpt_err *err)
{
  memset(s, 0, sizeof *s);
  s->path = path;
  s->opts = opts ? opts : &no_options;
  s->err = err;
  size_t size = 0;
  int rc = open_fd(s, &size);
  /* An input buffer no bigger than the file: tiny files (tests, fuzzing) need not pay 256 KiB. */
  s->in_cap = size > 0 && size < IDX_GZ_BUFFER ? size : IDX_GZ_BUFFER;
  if (s->in_cap < MIN_INPUT) s->in_cap = MIN_INPUT;
  if (!rc && !(s->in = malloc(s->in_cap)))
    rc = dpt_err_set(err, DPT_ENOMEM, "%s: out of memory opening it", path);
  s->z.next_in = s->in;
  while (!rc && s->z.avail_in < 2 && !s->fd_ended) rc = fill(s);
  s->gzip = s->z.avail_in >= 2 && s->in[0] == 0x1f && s->in[1] == 0x8b;
  if (!rc && s->gzip) rc = start_gzip(s);
  if (rc) idx_source_close(s);
  return rc;
}

static int read_raw(idx_source *s, uint8_t *buf, size_t want, size_t *got)
{
  while (*got < want) {
    if (s->z.avail_in == 0) {
      if (s->fd_ended) break;
      int rc = fill(s);
      if (rc) return rc;
      continue;
    }
    size_t n = want - *got < s->z.avail_in ? want - *got : s->z.avail_in;
    memcpy(buf + *got, s->z.next_in, n);
    s->z.next_in += n;
    s->z.avail_in -= (uInt)n;
    *got += n;
  }
  return DPT_OK;
}

/* After a whole gzip member: the content ends with the file, or another member follows (gzip
 * allows concatenated members, and gunzip reads them as one stream). */
static int next_member(idx_source *s, bool *ended)
{
  *ended = s->z.avail_in == 0;
  if (*ended) return DPT_OK;
  if (s->z.next_in[0] != 0x1f)
    return dpt_err_set(s->err, DPT_EINPUT, "%s: trailing bytes after its gzip data", s->path);
  if (inflateReset(&s->z) != Z_OK)
    return dpt_err_set(s->err, DPT_EINTERNAL, "%s: zlib cannot restart", s->path);
  s->member_ended = false;
  return DPT_OK;
}

static int read_gzip(idx_source *s, uint8_t *buf, size_t want, size_t *got)
{
  while (*got < want) {
    int rc = DPT_OK;
    if (s->z.avail_in == 0 && !s->fd_ended) rc = fill(s);
    if (rc) return rc;
    if (s->z.avail_in == 0 && !s->fd_ended) continue;
    if (s->member_ended) {
      bool ended;
      rc = next_member(s, &ended);
      if (rc || ended) return rc;
    }
    if (s->z.avail_in == 0) /* the file ended inside a member */
      return dpt_err_set(s->err, DPT_EINPUT, "%s: corrupt gzip data: unexpected end of file",
                         s->path);
    size_t room = want - *got;
    s->z.next_out = buf + *got;
    s->z.avail_out = room < UINT_MAX ? (uInt)room : UINT_MAX;
    uInt before = s->z.avail_out;
    int zr = inflate(&s->z, Z_NO_FLUSH);
    *got += before - s->z.avail_out;
    if (zr == Z_STREAM_END) s->member_ended = true;
    else if (zr == Z_MEM_ERROR)
      return dpt_err_set(s->err, DPT_ENOMEM, "%s: out of memory inflating it", s->path);
    else if (zr != Z_OK && zr != Z_BUF_ERROR)
      return dpt_err_set(s->err, DPT_EINPUT, "%s: corrupt gzip data: %s", s->path,
                         s->z.msg ? s->z.msg : zError(zr));
  }
  return DPT_OK;
}

int idx_source_read(idx_source *s, uint8_t *buf, size_t want, size_t *got)
{
  *got = 0;
  /* In pieces, each after a stop check: a request ends even a large file's read at once. */
  while (*got < want) {
    if (dpt_stop_requested(&s->opts->stop))
      return dpt_err_set(s->err, DPT_EINTERRUPTED, "%s: reading stopped on request", s->path);
    size_t piece = want - *got < READ_PIECE ? want - *got : READ_PIECE, n = 0;
    int rc = s->gzip ? read_gzip(s, buf + *got, piece, &n) : read_raw(s, buf + *got, piece, &n);
    *got += n;
    if (rc || n < piece) return rc;
  }
  return DPT_OK;
}

void idx_source_close(idx_source *s)
{
  if (s->inflating) inflateEnd(&s->z);
  s->inflating = false;
  free(s->in);
  s->in = NULL;
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
}
