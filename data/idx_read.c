/* dpt_idx_read and idx_file: one IDX file, raw or gzip, with every header field and the payload
 * length checked before the caller sees it. */
#include "dpt/data.h"

#include <stdlib.h>
#include <string.h>

#include "data/idx_file.h"

/* The payload buffer starts this small and doubles as bytes arrive, so a header that promises
 * gigabytes over a short file costs no more memory than the file holds. */
#define FIRST_CAPACITY ((size_t)64 << 10)

static int read_header(idx_source *s, dpt_idx *out, char *dims_str)
{
  uint8_t head[4 + 4 * DPT_IDX_MAX_RANK];
  size_t got;
  int rc = idx_source_read(s, head, 4, &got);
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
  rc = idx_source_read(s, head + 4, dims_bytes, &got);
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
static int read_payload(idx_source *s, dpt_idx *out, const char *dims_str)
{
  size_t size = out->count * out->features;
  size_t cap = size < FIRST_CAPACITY ? size : FIRST_CAPACITY, have = 0;
  uint8_t *buf = malloc(cap);
  if (!buf) return dpt_err_set(s->err, DPT_ENOMEM, "%s: out of memory for its payload", s->path);
  for (;;) {
    size_t got;
    int rc = idx_source_read(s, buf + have, cap - have, &got);
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

/* Anything after the payload is refused as soon as its first byte arrives: a file (or a FIFO's
 * writer) that goes on past its header's promise is not read to its end. For gzip, reaching the
 * end also checks the CRC and notices a truncated trailer. */
static int check_end(idx_source *s, const char *dims_str)
{
  uint8_t byte;
  size_t got;
  int rc = idx_source_read(s, &byte, 1, &got);
  if (!rc && got)
    rc = dpt_err_set(s->err, DPT_EINPUT, "%s: trailing data after the %s payload: the file is "
                     "longer than its header says", s->path, dims_str);
  return rc;
}

int idx_file_open(idx_file *f, const char *path, const dpt_data_options *opts, dpt_err *err)
{
  memset(f, 0, sizeof *f);
  int rc = idx_source_open(&f->src, path, opts, err);
  if (rc) return rc;
  f->open = true;
  rc = read_header(&f->src, &f->idx, f->dims_str);
  if (rc) idx_file_free(f);
  return rc;
}

int idx_file_read_payload(idx_file *f)
{
  int rc = read_payload(&f->src, &f->idx, f->dims_str);
  if (!rc) rc = check_end(&f->src, f->dims_str);
  idx_source_close(&f->src);
  f->open = false;
  return rc;
}

void idx_file_free(idx_file *f)
{
  if (f->open) idx_source_close(&f->src);
  f->open = false;
  dpt_idx_free(&f->idx);
}

int dpt_idx_read(const char *path, dpt_idx *out, dpt_err *err)
{
  idx_file f;
  int rc = idx_file_open(&f, path, NULL, err);
  if (!rc) rc = idx_file_read_payload(&f);
  if (rc) idx_file_free(&f);
  *out = f.idx;
  return rc;
}

void dpt_idx_free(dpt_idx *idx)
{
  free(idx->data);
  memset(idx, 0, sizeof *idx);
}
