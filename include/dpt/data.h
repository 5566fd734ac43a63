/* Data sets in the IDX format of the MNIST family, raw or gzip-compressed. */
#ifndef DPT_DATA_H
#define DPT_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "dpt/rng.h"
#include "dpt/status.h"

#define DPT_IDX_MAX_RANK 8

/* One IDX file as read: ubyte payload only (type code 0x08). */
typedef struct dpt_idx {
  int rank;
  uint32_t dims[DPT_IDX_MAX_RANK];
  size_t count;    /* dims[0] */
  size_t features; /* product of dims[1..rank) (1 for rank 1) */
  uint8_t *data;   /* count * features bytes */
} dpt_idx;

/* Reads path (gzip detected by its magic bytes, not its name). Every field is checked: magic,
 * type code, rank, overflowing sizes, payload shorter or longer than the header says, corrupt
 * gzip. Errors are DPT_EINPUT naming the file. */
int dpt_idx_read(const char *path, dpt_idx *out, dpt_err *err);
void dpt_idx_free(dpt_idx *idx);

/* Samples as float features and int labels. */
typedef struct dpt_dataset {
  size_t count;
  size_t features;
  int rank;                         /* of one sample: 2 for 28x28 images */
  uint32_t shape[DPT_IDX_MAX_RANK]; /* sample shape (dims after the first) */
  int classes;                      /* 1 + the largest label of train and test */
  float *x;                         /* count x features */
  int32_t *y;                       /* count */
  /* FNV-1a 64 of the images file's then the labels file's content (IDX header and payload, as
   * decompressed): the same data set gives the same value, gzip-compressed or not. Checkpoints
   * record it, so that a run resumes only on the data it was trained on. Never 0. */
  uint64_t fingerprint;
} dpt_dataset;

/* Loads DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (the .gz name is preferred when
 * both exist), checks images/labels counts, train/test sample shapes, empty sets, and standardizes
 * every feature with the training set's mean and standard deviation (features with zero variance
 * are only centred). classes is set on both from the labels of both. */
int dpt_data_load_dir(const char *dir, dpt_dataset *train, dpt_dataset *test, dpt_err *err);

/* Builds a data set from an images file and a labels file (no standardization). */
int dpt_data_load_pair(const char *images_path, const char *labels_path, dpt_dataset *out,
                       dpt_err *err);

/* Per-feature standardization of train and test with train's statistics. */
void dpt_data_standardize(dpt_dataset *train, dpt_dataset *test);

void dpt_dataset_free(dpt_dataset *ds);

/* Writes an IDX file (raw, or gzip when gzip != 0) atomically (temp file + rename): used by tests
 * and tools to make data sets. dims[0] is the count. */
int dpt_idx_write(const char *path, int rank, const uint32_t *dims, const uint8_t *data, int gzip,
                  dpt_err *err);

#endif
