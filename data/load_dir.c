/* dpt_data_load_dir: the four files of an MNIST-family directory as a standardized training and
 * test set. */
#include "dpt/data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/idx_shape.h"
#include "data/stoppable.h"

enum { TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS, NFILES };

static const char *const file_names[NFILES] = {
    [TRAIN_IMAGES] = "train-images-idx3-ubyte",
    [TRAIN_LABELS] = "train-labels-idx1-ubyte",
    [TEST_IMAGES] = "t10k-images-idx3-ubyte",
    [TEST_LABELS] = "t10k-labels-idx1-ubyte",
};

static bool exists(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0;
}

/* DIR/NAME.gz when it exists, else DIR/NAME; *path is malloc'ed. */
static int find_file(const char *dir, const char *name, char **path, dpt_err *err)
{
  size_t len = strlen(dir) + 1 + strlen(name) + sizeof ".gz";
  char *p = malloc(len);
  if (!p) return dpt_err_set(err, DPT_ENOMEM, "%s: out of memory", dir);
  snprintf(p, len, "%s/%s.gz", dir, name);
  if (!exists(p)) {
    p[strlen(p) - 3] = '\0';
    if (!exists(p)) {
      free(p);
      return dpt_err_set(err, DPT_EINPUT, "%s: missing %s (neither %s.gz nor %s exists)", dir,
                         name, name, name);
    }
  }
  *path = p;
  return DPT_OK;
}

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

static int check_shapes(const dpt_dataset *train, const dpt_dataset *test, char *const *paths,
                        dpt_err *err)
{
  if (train->rank == test->rank &&
      memcmp(train->shape, test->shape, (size_t)train->rank * sizeof *train->shape) == 0)
    return DPT_OK;
  char train_str[IDX_DIMS_STR_MAX], test_str[IDX_DIMS_STR_MAX];
  return dpt_err_set(err, DPT_EINPUT, "%s: sample shape %s differs from the training set's %s (%s)",
                     paths[TEST_IMAGES], idx_dims_format(test->shape, test->rank, test_str),
                     idx_dims_format(train->shape, train->rank, train_str), paths[TRAIN_IMAGES]);
}

/* Both sets get the class count of both, so a label seen only in testing still has an output. */
static int set_classes(dpt_dataset *train, dpt_dataset *test, char *const *paths, dpt_err *err)
{
  int classes = train->classes > test->classes ? train->classes : test->classes;
  if (classes < 2)
    return dpt_err_set(err, DPT_EINPUT, "%s, %s: every label is 0: need at least 2 classes",
                       paths[TRAIN_LABELS], paths[TEST_LABELS]);
  train->classes = test->classes = classes;
  return DPT_OK;
}

_Static_assert((int)NFILES == (int)DPT_DATA_FILES, "dpt_data_dir_files lists every file read");

int dpt_data_dir_files(const char *dir, char *paths[DPT_DATA_FILES], dpt_err *err)
{
  for (int i = 0; i < NFILES; i++) paths[i] = NULL;
  int rc = check_dir(dir, err);
  for (int i = 0; i < NFILES && !rc; i++) rc = find_file(dir, file_names[i], &paths[i], err);
  for (int i = 0; i < NFILES && rc; i++) {
    free(paths[i]);
    paths[i] = NULL;
  }
  return rc;
}

int dpt_data_load_dir(const char *dir, const dpt_stop_check *stop, dpt_dataset *train,
                      dpt_dataset *test, dpt_err *err)
{
  memset(train, 0, sizeof *train);
  memset(test, 0, sizeof *test);
  char *paths[NFILES];
  int rc = dpt_data_dir_files(dir, paths, err);
  if (!rc)
    rc = data_load_pair_stoppable(paths[TRAIN_IMAGES], paths[TRAIN_LABELS], stop, train, err);
  if (!rc) rc = data_load_pair_stoppable(paths[TEST_IMAGES], paths[TEST_LABELS], stop, test, err);
  if (!rc) rc = check_shapes(train, test, paths, err);
  if (!rc) rc = set_classes(train, test, paths, err);
  if (!rc) dpt_data_standardize(train, test);
  if (rc) {
    dpt_dataset_free(train);
    dpt_dataset_free(test);
  }
  for (int i = 0; i < NFILES; i++) free(paths[i]);
  return rc;
}
