/* dpt_data_load_pair: an images file and a labels file as one data set of float features. */
#include "dpt/data.h"

#include <stdlib.h>
#include <string.h>

#include "dpt/hash.h"

static int check_pair(const char *images_path, const dpt_idx *images, const char *labels_path,
                      const dpt_idx *labels, dpt_err *err)
{
  if (images->rank < 2)
    return dpt_err_set(err, DPT_EINPUT,
                       "%s: images file has rank %d: it needs a sample count and a sample shape "
                       "(rank >= 2)", images_path, images->rank);
  if (labels->rank != 1)
    return dpt_err_set(err, DPT_EINPUT, "%s: labels file has rank %d: it needs rank 1",
                       labels_path, labels->rank);
  if (images->count != labels->count)
    return dpt_err_set(err, DPT_EINPUT, "%s has %zu images but %s has %zu labels", images_path,
                       images->count, labels_path, labels->count);
  return DPT_OK;
}

static int fill(const char *images_path, const dpt_idx *images, const dpt_idx *labels,
                dpt_dataset *out, dpt_err *err)
{
  size_t n = images->count * images->features; /* the reader checked it fits */
  if (n > SIZE_MAX / sizeof *out->x)
    return dpt_err_set(err, DPT_ENOMEM, "%s: too many features for this machine", images_path);
  out->x = malloc(n * sizeof *out->x);
  out->y = malloc(labels->count * sizeof *out->y);
  if (!out->x || !out->y)
    return dpt_err_set(err, DPT_ENOMEM, "%s: out of memory for %zu samples", images_path,
                       images->count);
  for (size_t i = 0; i < n; i++) out->x[i] = (float)images->data[i];
  int max_label = 0;
  for (size_t i = 0; i < labels->count; i++) {
    out->y[i] = labels->data[i];
    if (out->y[i] > max_label) max_label = out->y[i];
  }
  out->count = images->count;
  out->features = images->features;
  out->rank = images->rank - 1;
  memcpy(out->shape, images->dims + 1, (size_t)out->rank * sizeof *out->shape);
  out->classes = max_label + 1;
  return DPT_OK;
}

/* h extended by the file's header (magic, type 0x08, rank, big-endian dimensions) and payload.
 * Hashing all 55 MB of Fashion-MNIST takes 0.13 to 0.29 s, against 2.2 to 2.9 s for loading it
 * (measured on this 2-core machine under load): cheap enough to need no sampling. */
static uint64_t idx_fingerprint(uint64_t h, const dpt_idx *idx)
{
  uint8_t head[4 + 4 * DPT_IDX_MAX_RANK] = {0, 0, 0x08, (uint8_t)idx->rank};
  for (int i = 0; i < idx->rank; i++)
    for (int b = 0; b < 4; b++) head[4 + 4 * i + b] = (uint8_t)(idx->dims[i] >> (24 - 8 * b));
  h = dpt_hash_bytes(h, head, 4 + 4 * (size_t)idx->rank);
  return dpt_hash_bytes(h, idx->data, idx->count * idx->features);
}

int dpt_data_load_pair(const char *images_path, const char *labels_path, dpt_dataset *out,
                       dpt_err *err)
{
  memset(out, 0, sizeof *out);
  dpt_idx images, labels = {0};
  int rc = dpt_idx_read(images_path, &images, err);
  if (!rc) rc = dpt_idx_read(labels_path, &labels, err);
  if (!rc) rc = check_pair(images_path, &images, labels_path, &labels, err);
  if (!rc) rc = fill(images_path, &images, &labels, out, err);
  if (!rc) {
    uint64_t h = idx_fingerprint(idx_fingerprint(DPT_HASH_INIT, &images), &labels);
    out->fingerprint = h ? h : 1; /* 0 is a checkpoint's "not recorded" */
  }
  dpt_idx_free(&images);
  dpt_idx_free(&labels);
  if (rc) dpt_dataset_free(out);
  return rc;
}

void dpt_dataset_free(dpt_dataset *ds)
{
  free(ds->x);
  free(ds->y);
  memset(ds, 0, sizeof *ds);
}
