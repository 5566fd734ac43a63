/* dpt_idx_read: one IDX file, raw or gzip, with every header field and the payload length
 * checked before the caller sees it. */
#include "dpt/data.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data/idx_gz.h"
#include "data/idx_shape.h"
#include "data/stoppable.h"

/* gzread counts in int: one call moves at most this much. */
#define READ_CHUNK ((size_t)64 << 20)
/* The payload buffer starts this small and doubles as bytes arrive, so a header that promises
 * gigabytes over a short file costs no more memory than the file holds. */
#define FIRST_CAPACITY ((size_t)64 << 10)

typedef struct source {
  const char *path;
  gzFile gz; /* zlib reads gzip when the file starts with 1f 8b, other files verbatim */
  const dpt_stop_check *stop;
  dpt_err *err;
} source;

static int open_source(source *s)
{
  int fd = open(s->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return dpt_err_set(s->err, DPT_EINPUT, "%s: cannot open: %s", s->path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int rc = dpt_err_set(s->err, DPT_EIO, "%s: cannot stat: %s", s->path, strerror(errno));
    close(fd);
    return rc;
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    return dpt_err_set(s->err, DPT_EINPUT, "%s: is a directory, not an IDX file", s->path);
  }
  s->gz = gzdopen(fd, "rb");
  if (!s->gz) {
    close(fd);
    return dpt_err_set(s->err, DPT_ENOMEM, "%s: out of memory opening it", s->path);
  }
  /* zlib's buffers no bigger than the file: tiny files (tests, fuzzing) need not pay 768 KiB. */
  unsigned buffer = IDX_GZ_BUFFER;
  if (st.st_size > 0 && st.st_size < (off_t)buffer) buffer = (unsigned)st.st_size;
  gzbuffer(s->gz, buffer);
  return DPT_OK;
}

/* Reports a failure zlib recorded on the stream (corrupt or truncated gzip, a read error). */
static int stream_status(source *s)
{
  int code;
  const char *msg = idx_gz_error(s->gz, &code);
  switch (code) {
  case Z_OK: return DPT_OK;
  case Z_ERRNO: return dpt_err_set(s->err, DPT_EIO, "%s: read failed: %s", s->path, msg);
  case Z_MEM_ERROR: return dpt_err_set(s->err, DPT_ENOMEM, "%s: out of memory: %s", s->path, msg);
  default: return dpt_err_set(s->err, DPT_EINPUT, "%s: corrupt gzip data: %s", s->path, msg);
  }
}

/* Reads up to want bytes; *got < want means the file ended. */
static int read_upto(source *s, uint8_t *buf, size_t want, size_t *got)
{
  *got = 0;
  while (*got < want) {
    if (dpt_stop_requested(s->stop))
      return dpt_err_set(s->err, DPT_EINTERRUPTED, "%s: reading stopped on request", s->path);
    size_t n = want - *got < READ_CHUNK ? want - *got : READ_CHUNK;
    int r = gzread(s->gz, buf + *got, (unsigned)n);
    if (r > 0) *got += (size_t)r;
    if (r < (int)n) break;
  }
  return stream_status(s);
}

static int read_header(source *s, dpt_idx *out, char *dims_str)
{
  uint8_t head[4 + 4 * DPT_IDX_MAX_RANK];
  size_t got;
  int rc = read_upto(s, head, 4, &got);
  if (rc) return rc;
  if (got < 4)
    return dpt_err_set(s->err, DPT_EINPUT,
                       "%s: header truncated: %zu bytes, the magic alone needs 4", s->path, got);
  if (head[0] || head[1])
    return dpt_err_set(s->err, DPT_EINPUT,
                       "%s: bad magic %02x %02x %02x %02x: not an IDX file (it starts with two "
                       "zero bytes)", s->path, head[0], head[1], head[2], head[3]);
  if (head[2] != 0x08)
    return dpt_err_set(s->err, DPT_EINPUT,
                       "%s: type code 0x%02x is not supported: only 0x08 (unsigned byte)", s->path,
                       head[2]);
  int rank = head[3];
  if (rank < 1 || rank > DPT_IDX_MAX_RANK)
    return dpt_err_set(s->err, DPT_EINPUT, "%s: rank %d is out of range 1..%d", s->path, rank,
                       DPT_IDX_MAX_RANK);
  size_t dims_bytes = 4 * (size_t)rank;
  rc = read_upto(s, head + 4, dims_bytes, &got);
  if (rc) return rc;
  if (got < dims_bytes)
    return dpt_err_set(s->err, DPT_EINPUT,
                       "%s: header truncated: %zu of the %zu bytes of its %d dimensions", s->path,
                       got, dims_bytes, rank);

  out->rank = rank;
  for (int i = 0; i < rank; i++) {
    const uint8_t *b = head + 4 + 4 * i;
    out->dims[i] = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
  }
  idx_dims_format(out->dims, rank, dims_str);
  if (out->dims[0] == 0)
    return dpt_err_set(s->err, DPT_EINPUT, "%s: contains no samples (shape %s)", s->path, dims_str);
  for (int i = 1; i < rank; i++)
    if (out->dims[i] == 0)
      return dpt_err_set(s->err, DPT_EINPUT, "%s: dimension %d is zero (shape %s)", s->path, i,
                         dims_str);
  size_t payload;
  if (!idx_dims_product(out->dims, 1, rank, &out->features) ||
      !idx_dims_product(out->dims, 0, rank, &payload))
    return dpt_err_set(s->err, DPT_EINPUT, "%s: the header's %s overflows size_t", s->path,
                       dims_str);
  if ((uint64_t)payload > IDX_MAX_PAYLOAD)
    return dpt_err_set(s->err, DPT_EINPUT,
                       "%s: the header's %s is %zu bytes, over the 4 GiB limit", s->path, dims_str,
                       payload);
  out->count = out->dims[0];
  return DPT_OK;
}

/* Reads exactly count * features bytes into out->data. */
static int read_payload(source *s, dpt_idx *out, const char *dims_str)
{
  size_t size = out->count * out->features;
  size_t cap = size < FIRST_CAPACITY ? size : FIRST_CAPACITY, have = 0;
  uint8_t *buf = malloc(cap);
  if (!buf) return dpt_err_set(s->err, DPT_ENOMEM, "%s: out of memory for its payload", s->path);
  for (;;) {
    size_t got;
    int rc = read_upto(s, buf + have, cap - have, &got);
    have += got;
    if (!rc && have < cap)
      rc = dpt_err_set(s->err, DPT_EINPUT, "%s: payload is %zu bytes shorter than the header's %s",
                       s->path, size - have, dims_str);
    if (rc) {
      free(buf);
      return rc;
    }
    if (have == size) break;
    cap = cap > size / 2 ? size : 2 * cap;
    uint8_t *grown = realloc(buf, cap);
    if (!grown) {
      free(buf);
      return dpt_err_set(s->err, DPT_ENOMEM, "%s: out of memory for its payload", s->path);
    }
    buf = grown;
  }
  out->data = buf;
  return DPT_OK;
}

/* Anything after the payload is refused. For gzip this read also reaches the stream's end, where
 * zlib checks the CRC and notices a truncated trailer. */
static int check_end(source *s, const char *dims_str)
{
  uint8_t scratch[16384];
  uint64_t extra = 0;
  size_t got;
  do {
    int rc = read_upto(s, scratch, sizeof scratch, &got);
    if (rc) return rc;
    extra += got;
  } while (got == sizeof scratch);
  if (extra)
    return dpt_err_set(s->err, DPT_EINPUT, "%s: %llu bytes of trailing data after the %s payload",
                       s->path, (unsigned long long)extra, dims_str);
  return DPT_OK;
}

int idx_read_stoppable(const char *path, const dpt_stop_check *stop, dpt_idx *out, dpt_err *err)
{
  memset(out, 0, sizeof *out);
  source s = {.path = path, .stop = stop, .err = err};
  int rc = open_source(&s);
  if (rc) return rc;
  char dims_str[IDX_DIMS_STR_MAX];
  rc = read_header(&s, out, dims_str);
  if (!rc) rc = read_payload(&s, out, dims_str);
  if (!rc) rc = check_end(&s, dims_str);
  gzclose_r(s.gz);
  if (rc) dpt_idx_free(out);
  return rc;
}

int dpt_idx_read(const char *path, dpt_idx *out, dpt_err *err)
{
  return idx_read_stoppable(path, NULL, out, err);
}

void dpt_idx_free(dpt_idx *idx)
{
  free(idx->data);
  memset(idx, 0, sizeof *idx);
}
