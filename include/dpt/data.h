/* Data sets in the IDX format of the MNIST family, raw or gzip-compressed. */
#ifndef DPT_DATA_H
#define DPT_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpt/rng.h"
#include "dpt/status.h"
#include "dpt/stop.h"

#define DPT_IDX_MAX_RANK 8

/* One IDX file as read: ubyte payload only (type code 0x08). */
typedef struct dpt_idx {
  int rank;
  uint32_t dims[DPT_IDX_MAX_RANK];
  size_t count;    /* dims[0] */
  size_t features; /* product of dims[1..rank) (1 for rank 1) */
  uint8_t *data;   /* count * features bytes */
} dpt_idx;

/* What a data set will hold, known from the files' headers and labels before any image payload
 * is read (dpt_data_options.check_plan). */
typedef struct dpt_data_plan {
  const char *train_images, *test_images; /* paths, for messages */
  size_t train_count, test_count;
  size_t features; /* of one sample */
  int rank;        /* of one sample (2 for 28x28 images), and its shape */
  uint32_t shape[DPT_IDX_MAX_RANK];
  int classes;     /* 1 + the largest training label */
  double bytes;    /* the most the loaded sets hold at once: float features, labels, and one
                    * file's raw bytes while they are converted */
} dpt_data_plan;

/* Called once the four headers and both label files are read and checked, before any image
 * payload: nonzero (with err set) ends the load with that code. */
typedef int (*dpt_data_plan_check)(void *ctx, const dpt_data_plan *plan, dpt_err *err);

/* How loading may wait and what the caller checks on the way; zero fields take the defaults. */
typedef struct dpt_data_options {
  /* Polled before every read of at most 64 MiB and, while a read waits for bytes (a FIFO with
   * no writer yet, or a slow one), every 100 ms: a request ends the load with DPT_EINTERRUPTED.
   * Zero: never. */
  dpt_stop_check stop;
  /* The longest a read waits without receiving a byte before DPT_ETIMEOUT (0: 300 s). Regular
   * files never wait. */
  double wait_s;
  dpt_data_plan_check check_plan; /* NULL: no check */
  void *plan_ctx;
} dpt_data_options;

/* Reads path (gzip detected by its magic bytes, not its name; a FIFO or other non-regular file
 * is read as it arrives, see dpt_data_options). Every field is checked: magic, type code, rank,
 * overflowing sizes, payload shorter or longer than the header says (no byte past the promised
 * payload is read beyond the first), corrupt gzip. Errors are DPT_EINPUT naming the file. */
int dpt_idx_read(const char *path, dpt_idx *out, dpt_err *err);
void dpt_idx_free(dpt_idx *idx);

/* Samples as float features and int labels. */
typedef struct dpt_dataset {
  size_t count;
  size_t features;
  int rank;                         /* of one sample: 2 for 28x28 images */
  uint32_t shape[DPT_IDX_MAX_RANK]; /* sample shape (dims after the first) */
  int classes;                      /* 1 + the largest training label */
  float *x;                         /* count x features */
  int32_t *y;                       /* count */
  /* FNV-1a 64 of the images file's then the labels file's content (IDX header and payload, as
   * decompressed): the same data set gives the same value, gzip-compressed or not. Checkpoints
   * record it, so that a run resumes only on the data it was trained on. Never 0. */
  uint64_t fingerprint;
} dpt_dataset;

/* Loads the four files of DIR: {train,t10k}-{images,labels}-idx{3,1}-ubyte, each also spelled
 * with a dot before "idx" (train-images.idx3-ubyte), raw or .gz; the first of NAME.gz, NAME,
 * DOTTED.gz, DOTTED that exists is read. Checks images/labels counts, train/test sample shapes,
 * empty sets, test labels within the training labels' range, then (opts->check_plan) whether
 * the caller can afford the data, and standardizes every feature with the training set's mean
 * and standard deviation (features with zero variance are only centred). classes is set on both
 * from the training labels. opts may be NULL. A stop request (opts->stop) ends the load within a
 * fraction of a second with DPT_EINTERRUPTED and empty outputs. */
int dpt_data_load_dir(const char *dir, const dpt_data_options *opts, dpt_dataset *train,
                      dpt_dataset *test, dpt_err *err);

/* The files dpt_data_load_dir reads from dir: train images, train labels, test images, test
 * labels, each malloc'ed (the caller frees them). Its errors for a missing folder or file. */
enum { DPT_DATA_FILES = 4 };
int dpt_data_dir_files(const char *dir, char *paths[DPT_DATA_FILES], dpt_err *err);

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
