/* dpt_data_load_dir: the four files of an MNIST-family directory as a standardized training and
 * test set. Every header is read and checked first, then the labels, then the caller weighs the
 * plan, and only then are the image payloads read: a set that contradicts itself or cannot fit
 * costs neither time nor memory. */
#include "dpt/data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/data_files.h"
#include "data/data_pair.h"

enum { TRAIN, TEST, SETS };

static int check_dir(const char *dir, dpt_err *err)
{
  struct stat st;
  if (stat(dir, &st) != 0) {
    if (errno == ENOENT) return dpt_err_set(err, DPT_EINPUT, "%s: no such directory", dir);
    return dpt_err_set(err, DPT_EINPUT, "%s: cannot open: %s", dir, strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) return dpt_err_set(err, DPT_EINPUT, "%s: not a directory", dir);
  return DPT_OK;
}

static int check_shapes(const data_pair *sets, dpt_err *err)
{
  const dpt_idx *train = &sets[TRAIN].images.idx, *test = &sets[TEST].images.idx;
  if (train->rank == test->rank &&
      memcmp(train->dims + 1, test->dims + 1, (size_t)(train->rank - 1) * sizeof *train->dims) == 0)
    return DPT_OK;
  char train_str[IDX_DIMS_STR_MAX], test_str[IDX_DIMS_STR_MAX];
  return dpt_err_set(err, DPT_EINPUT, "%s: sample shape %s differs from the training set's %s (%s)",
                     sets[TEST].images.src.path,
                     idx_dims_format(test->dims + 1, test->rank - 1, test_str),
                     idx_dims_format(train->dims + 1, train->rank - 1, train_str),
                     sets[TRAIN].images.src.path);
}

/* The model has one output per training class: a test label beyond them would widen it with
 * outputs no sample trained. */
static int check_classes(const data_pair *sets, int *classes, dpt_err *err)
{
  size_t at;
  int train_max = data_pair_max_label(&sets[TRAIN], &at);
  if (train_max == 0)
    return dpt_err_set(err, DPT_EINPUT, "%s: every label is 0: need at least 2 classes",
                       sets[TRAIN].labels.src.path);
  int test_max = data_pair_max_label(&sets[TEST], &at);
  if (test_max > train_max)
    return dpt_err_set(err, DPT_EINPUT, "%s: label %d (sample %zu) is outside the training "
                       "labels' range 0..%d (%s)", sets[TEST].labels.src.path, test_max, at,
                       train_max, sets[TRAIN].labels.src.path);
  *classes = train_max + 1;
  return DPT_OK;
}

_Static_assert((int)DATA_FILES == (int)DPT_DATA_FILES, "dpt_data_dir_files lists every file read");

int dpt_data_dir_files(const char *dir, char *paths[DPT_DATA_FILES], dpt_err *err)
{
  for (int i = 0; i < DATA_FILES; i++) paths[i] = NULL;
  int rc = check_dir(dir, err);
  for (int i = 0; i < DATA_FILES && !rc; i++) rc = data_find_file(dir, i, &paths[i], err);
  for (int i = 0; i < DATA_FILES && rc; i++) {
    free(paths[i]);
    paths[i] = NULL;
  }
  return rc;
}

/* What the loaded sets hold at their peak: both sets' labels, the training features, and while
 * the test images are converted their raw bytes and floats beside those (or, before, the
 * training images' raw bytes beside their floats). */
static void plan_sets(const data_pair *sets, int classes, dpt_data_plan *plan)
{
  double features = (double)sets[TRAIN].images.idx.features;
  double n[SETS] = {(double)sets[TRAIN].images.idx.count, (double)sets[TEST].images.idx.count};
  double labels = (n[TRAIN] + n[TEST]) * (1 + sizeof(int32_t));
  double train_peak = n[TRAIN] * features * (1 + sizeof(float));
  double test_peak = n[TRAIN] * features * sizeof(float) + n[TEST] * features * (1 + sizeof(float));
  *plan = (dpt_data_plan){.train_images = sets[TRAIN].images.src.path,
                          .test_images = sets[TEST].images.src.path,
                          .train_count = sets[TRAIN].images.idx.count,
                          .test_count = sets[TEST].images.idx.count,
                          .features = sets[TRAIN].images.idx.features, .classes = classes,
                          .bytes = labels + (train_peak > test_peak ? train_peak : test_peak)};
  const dpt_idx *idx = &sets[TRAIN].images.idx;
  plan->rank = idx->rank - 1;
  for (int i = 1; i < idx->rank; i++) plan->shape[i - 1] = idx->dims[i];
}

static int load_sets(char *const *paths, const dpt_data_options *opts, data_pair *sets,
                     dpt_dataset *train, dpt_dataset *test, dpt_err *err)
{
  int rc = data_pair_open(&sets[TRAIN], paths[DATA_TRAIN_IMAGES], paths[DATA_TRAIN_LABELS], opts,
                          err);
  if (!rc)
    rc = data_pair_open(&sets[TEST], paths[DATA_TEST_IMAGES], paths[DATA_TEST_LABELS], opts, err);
  if (!rc) rc = check_shapes(sets, err);
  for (int s = 0; s < SETS && !rc; s++) rc = data_pair_read_labels(&sets[s]);
  int classes = 0;
  if (!rc) rc = check_classes(sets, &classes, err);
  dpt_data_plan plan;
  if (!rc) plan_sets(sets, classes, &plan);
  if (!rc && opts && opts->check_plan) rc = opts->check_plan(opts->plan_ctx, &plan, err);
  if (!rc) rc = data_pair_fill(&sets[TRAIN], train, err);
  if (!rc) rc = data_pair_fill(&sets[TEST], test, err);
  if (!rc) train->classes = test->classes = classes;
  return rc;
}

int dpt_data_load_dir(const char *dir, const dpt_data_options *opts, dpt_dataset *train,
                      dpt_dataset *test, dpt_err *err)
{
  memset(train, 0, sizeof *train);
  memset(test, 0, sizeof *test);
  char *paths[DATA_FILES];
  int rc = dpt_data_dir_files(dir, paths, err);
  data_pair sets[SETS];
  memset(sets, 0, sizeof sets);
  if (!rc) rc = load_sets(paths, opts, sets, train, test, err);
  for (int s = 0; s < SETS; s++) data_pair_free(&sets[s]);
  if (!rc) dpt_data_standardize(train, test);
  if (rc) {
    dpt_dataset_free(train);
    dpt_dataset_free(test);
  }
  for (int i = 0; i < DATA_FILES; i++) free(paths[i]);
  return rc;
}
