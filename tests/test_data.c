/* data/: IDX round trips, every malformed file refused with a message naming it, atomic writes,
 * data set loading and standardization, and the real Fashion-MNIST when it is installed. */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "dpt/data.h"
#include "dpt/rng.h"
#include "tests/lib/test_util.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* ---- helpers --------------------------------------------------------------------------------- */

static void write_bytes(const char *path, const void *bytes, size_t n, int gzip)
{
  if (gzip) {
    gzFile gz = gzopen(path, "wb");
    CU_ASSERT_FATAL(gz != NULL);
    CU_ASSERT_FATAL(n == 0 || gzwrite(gz, bytes, (unsigned)n) == (int)n);
    CU_ASSERT_FATAL(gzclose(gz) == Z_OK);
    return;
  }
  FILE *f = fopen(path, "wb");
  CU_ASSERT_FATAL(f != NULL);
  CU_ASSERT_FATAL(fwrite(bytes, 1, n, f) == n);
  CU_ASSERT_FATAL(fclose(f) == 0);
}

/* The whole file, malloc'ed; *n its size. */
static uint8_t *slurp(const char *path, size_t *n)
{
  FILE *f = fopen(path, "rb");
  CU_ASSERT_FATAL(f != NULL);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc((size_t)size + 1);
  CU_ASSERT_FATAL(buf != NULL);
  CU_ASSERT_FATAL(fread(buf, 1, (size_t)size, f) == (size_t)size);
  fclose(f);
  *n = (size_t)size;
  return buf;
}

static void fill_random(uint8_t *buf, size_t n, uint64_t seed, unsigned below)
{
  dpt_rng rng;
  dpt_rng_seed(&rng, seed);
  for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)dpt_rng_below(&rng, below);
}

static size_t product(int rank, const uint32_t *dims)
{
  size_t n = 1;
  for (int i = 0; i < rank; i++) n *= dims[i];
  return n;
}

/* A fresh directory under the test temp dir. */
static char *make_dir(char *buf, size_t size, const char *name)
{
  dpt_test_path(buf, size, name);
  CU_ASSERT_FATAL(mkdir(buf, 0755) == 0);
  return buf;
}

static char *join(char *buf, size_t size, const char *dir, const char *name)
{
  int n = snprintf(buf, size, "%s/%s", dir, name);
  CU_ASSERT_FATAL(n > 0 && (size_t)n < size);
  return buf;
}

/* Entries of dir whose name contains part (leftover temporary files). */
static int count_entries_with(const char *dir, const char *part)
{
  DIR *d = opendir(dir);
  CU_ASSERT_FATAL(d != NULL);
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) n += strstr(e->d_name, part) != NULL;
  closedir(d);
  return n;
}

static void expect_msg(const dpt_err *err, const char *want)
{
  int has = strstr(err->msg, want) != NULL;
  if (!has) fprintf(stderr, "\n  message \"%s\" lacks \"%s\"\n", err->msg, want);
  CU_ASSERT(has);
}

/* dpt_idx_read refuses path with DPT_EINPUT, a message naming it and want, and no output. */
static void expect_idx_refused(const char *path, const char *want)
{
  dpt_idx idx;
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_idx_read(path, &idx, &err), DPT_EINPUT);
  CU_ASSERT_EQUAL(err.code, DPT_EINPUT);
  expect_msg(&err, path);
  expect_msg(&err, want);
  CU_ASSERT_PTR_NULL(idx.data);
}

/* ---- IDX round trips ------------------------------------------------------------------------- */

static void round_trip(int rank, const uint32_t *dims, unsigned values_below, int gzip)
{
  char path[4096], name[64];
  snprintf(name, sizeof name, "rt-r%d-%u-%u-%d", rank, (unsigned)dims[0], values_below, gzip);
  dpt_test_path(path, sizeof path, name);
  size_t n = product(rank, dims);
  uint8_t *data = malloc(n);
  CU_ASSERT_FATAL(data != NULL);
  fill_random(data, n, n + values_below, values_below);
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_idx_write(path, rank, dims, data, gzip, &err) == DPT_OK);

  size_t file_len;
  uint8_t *file = slurp(path, &file_len);
  if (gzip) {
    CU_ASSERT(file[0] == 0x1f && file[1] == 0x8b);
  } else {
    CU_ASSERT_EQUAL(file_len, 4 + 4 * (size_t)rank + n);
    CU_ASSERT(file[0] == 0 && file[1] == 0 && file[2] == 0x08 && file[3] == rank);
    CU_ASSERT(file[4] == (uint8_t)(dims[0] >> 24) && file[7] == (uint8_t)dims[0]); /* big-endian */
  }
  free(file);

  dpt_idx idx;
  CU_ASSERT_FATAL(dpt_idx_read(path, &idx, &err) == DPT_OK);
  CU_ASSERT_EQUAL(idx.rank, rank);
  for (int i = 0; i < rank; i++) CU_ASSERT_EQUAL(idx.dims[i], dims[i]);
  CU_ASSERT_EQUAL(idx.count, dims[0]);
  CU_ASSERT_EQUAL(idx.features, n / dims[0]);
  CU_ASSERT(memcmp(idx.data, data, n) == 0);
  dpt_idx_free(&idx);
  CU_ASSERT_PTR_NULL(idx.data);
  free(data);
}

static void test_round_trip_labels(void)
{
  const unsigned classes[] = {2, 10, 47};
  for (int gzip = 0; gzip <= 1; gzip++)
    for (int c = 0; c < 3; c++) round_trip(1, (const uint32_t[]){101}, classes[c], gzip);
}

static void test_round_trip_images(void)
{
  const uint32_t shapes[][3] = {{5, 3, 4}, {7, 28, 28}, {1, 1, 1}};
  for (int gzip = 0; gzip <= 1; gzip++) {
    round_trip(2, (const uint32_t[]){9, 13}, 256, gzip);
    for (int s = 0; s < 3; s++) round_trip(3, shapes[s], 256, gzip);
  }
}

static void test_round_trip_max_rank(void)
{
  const uint32_t dims[DPT_IDX_MAX_RANK] = {3, 2, 1, 2, 1, 2, 1, 2};
  round_trip(DPT_IDX_MAX_RANK, dims, 256, 0);
  round_trip(DPT_IDX_MAX_RANK, dims, 256, 1);
}

/* A payload far larger than one read buffer, so the growing buffer and chunked reads are used. */
static void test_round_trip_large(void)
{
  round_trip(2, (const uint32_t[]){3001, 1000}, 256, 1);
  round_trip(2, (const uint32_t[]){3001, 1000}, 7, 0);
}

/* ---- malformed IDX files --------------------------------------------------------------------- */

typedef struct bad_file {
  const char *name;
  uint8_t bytes[40];
  size_t len;
  const char *want;
} bad_file;

static const bad_file bad_files[] = {
    {"empty", {0}, 0, "header truncated: 0 bytes"},
    {"short-magic", {0, 0, 8}, 3, "header truncated: 3 bytes"},
    {"bad-magic", {1, 0, 8, 1, 0, 0, 0, 1, 5}, 9, "bad magic 01 00 08 01"},
    {"bad-magic-2", {0, 7, 8, 1, 0, 0, 0, 1, 5}, 9, "not an IDX file"},
    {"type-09", {0, 0, 0x09, 1, 0, 0, 0, 1, 5}, 9, "type code 0x09 is not supported"},
    {"type-0b", {0, 0, 0x0B, 1, 0, 0, 0, 1, 5, 5}, 10, "type code 0x0b is not supported"},
    {"type-0c", {0, 0, 0x0C, 1, 0, 0, 0, 1, 5, 5, 5, 5}, 12, "type code 0x0c is not supported"},
    {"type-0d", {0, 0, 0x0D, 1, 0, 0, 0, 1, 5, 5, 5, 5}, 12, "type code 0x0d is not supported"},
    {"type-0e", {0, 0, 0x0E, 1, 0, 0, 0, 1, 5, 5, 5, 5, 5, 5, 5, 5}, 16, "type code 0x0e"},
    {"rank-0", {0, 0, 8, 0}, 4, "rank 0 is out of range 1..8"},
    {"rank-9", {0, 0, 8, 9, 0, 0, 0, 1}, 8, "rank 9 is out of range 1..8"},
    {"dims-truncated", {0, 0, 8, 2, 0, 0, 0, 1, 0, 0}, 10, "header truncated: 6 of the 8 bytes"},
    {"no-samples", {0, 0, 8, 2, 0, 0, 0, 0, 0, 0, 0, 3}, 12, "contains no samples (shape 0x3)"},
    {"zero-dim", {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3}, 16, "dimension 1 is zero"},
    {"overflow",
     {0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
     16, "4294967295x4294967295x4294967295 overflows size_t"},
    {"features-overflow",
     {0, 0, 8, 4, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff}, 20, "overflows size_t"},
    {"over-limit", {0, 0, 8, 2, 0, 1, 0, 0, 0, 1, 0, 1}, 12, "65536x65537 is 4295032832 bytes, "
                                                               "over the 4 GiB limit"},
    {"short-payload", {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4}, 16,
     "payload is 2 bytes shorter than the header's 2x3"},
    {"huge-claim", {0, 0, 8, 3, 0, 0, 0x03, 0xe8, 0, 0, 0x03, 0xe8, 0, 0, 0x03, 0xe8, 1, 2}, 18,
     "payload is 999999998 bytes shorter than the header's 1000x1000x1000"},
    {"trailing", {0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3, 4, 5}, 13,
     "2 bytes of trailing data after the 3 payload"},
};

/* Each malformed file is refused the same way whether it is stored raw or gzip-compressed. */
static void test_malformed_refused(void)
{
  for (size_t i = 0; i < sizeof bad_files / sizeof *bad_files; i++)
    for (int gzip = 0; gzip <= 1; gzip++) {
      char path[4096], name[64];
      snprintf(name, sizeof name, "bad-%s%s", bad_files[i].name, gzip ? ".gz" : "");
      dpt_test_path(path, sizeof path, name);
      write_bytes(path, bad_files[i].bytes, bad_files[i].len, gzip);
      expect_idx_refused(path, bad_files[i].want);
    }
}

static void test_missing_file_and_directory(void)
{
  char path[4096];
  dpt_test_path(path, sizeof path, "does-not-exist-idx1-ubyte");
  expect_idx_refused(path, "cannot open: No such file or directory");
  expect_idx_refused(dpt_test_tmpdir(), "is a directory");
}

/* A valid gzip IDX file of compressible bytes; returns its bytes and size. */
static uint8_t *valid_gz(const char *path, size_t *len)
{
  uint8_t data[20000];
  fill_random(data, sizeof data, 99, 16);
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_idx_write(path, 2, (const uint32_t[]){200, 100}, data, 1, &err) == 0);
  return slurp(path, len);
}

static void test_corrupt_gzip(void)
{
  char path[4096];
  dpt_test_path(path, sizeof path, "corrupt.gz");
  size_t len;
  uint8_t *gz = valid_gz(path, &len);
  for (size_t i = len / 2; i < len / 2 + 8; i++) gz[i] ^= 0xff;
  write_bytes(path, gz, len, 0);
  expect_idx_refused(path, "corrupt gzip data");
  free(gz);
}

static void test_truncated_gzip(void)
{
  char path[4096];
  dpt_test_path(path, sizeof path, "truncated.gz");
  size_t len;
  uint8_t *gz = valid_gz(path, &len);
  /* Cut in the middle of the deflate data, and cut only the CRC/size trailer. */
  const size_t cuts[] = {len / 2, len - 4, len - 8};
  for (int i = 0; i < 3; i++) {
    write_bytes(path, gz, cuts[i], 0);
    expect_idx_refused(path, "corrupt gzip data: unexpected end of file");
  }
  free(gz);
}

/* A wrong CRC with intact deflate data: only the end-of-stream check can notice. */
static void test_gzip_bad_crc(void)
{
  char path[4096];
  dpt_test_path(path, sizeof path, "badcrc.gz");
  size_t len;
  uint8_t *gz = valid_gz(path, &len);
  gz[len - 8] ^= 0x01;
  write_bytes(path, gz, len, 0);
  expect_idx_refused(path, "corrupt gzip data: incorrect data check");
  free(gz);
}

/* ---- writing --------------------------------------------------------------------------------- */

static void test_write_refuses_bad_rank(void)
{
  char path[4096];
  dpt_test_path(path, sizeof path, "bad-rank-write");
  const uint32_t dims[DPT_IDX_MAX_RANK + 1] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  uint8_t byte = 0;
  const int ranks[] = {0, DPT_IDX_MAX_RANK + 1, -1};
  for (int i = 0; i < 3; i++) {
    dpt_err err = {0};
    CU_ASSERT_EQUAL(dpt_idx_write(path, ranks[i], dims, &byte, 0, &err), DPT_EINPUT);
    expect_msg(&err, path);
    expect_msg(&err, "IDX rank is 1..8");
  }
  CU_ASSERT(access(path, F_OK) != 0);
}

static void test_write_replaces_atomically(void)
{
  char dir[4096], path[4096];
  make_dir(dir, sizeof dir, "atomic");
  join(path, sizeof path, dir, "labels");
  const uint8_t old_data[] = {1, 2, 3}, new_data[] = {9, 8, 7, 6, 5};
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_idx_write(path, 1, (const uint32_t[]){3}, old_data, 0, &err) == 0);
  CU_ASSERT_FATAL(dpt_idx_write(path, 1, (const uint32_t[]){5}, new_data, 1, &err) == 0);
  dpt_idx idx;
  CU_ASSERT_FATAL(dpt_idx_read(path, &idx, &err) == 0);
  CU_ASSERT_EQUAL(idx.count, 5);
  CU_ASSERT(memcmp(idx.data, new_data, 5) == 0);
  dpt_idx_free(&idx);
  CU_ASSERT_EQUAL(count_entries_with(dir, ".tmp."), 0);
  struct stat st;
  CU_ASSERT_FATAL(stat(path, &st) == 0);
  CU_ASSERT_EQUAL(st.st_mode & 0777, 0644);
}

/* A write that fails half-way (file size limit) leaves the old file intact and no temp file. */
static void test_write_failure_leaves_no_partial_output(void)
{
  char dir[4096], path[4096];
  make_dir(dir, sizeof dir, "failing-write");
  join(path, sizeof path, dir, "images");
  uint8_t data[60000];
  fill_random(data, sizeof data, 5, 256);
  const uint8_t old_data[] = {4, 4};
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_idx_write(path, 1, (const uint32_t[]){2}, old_data, 0, &err) == 0);

  struct rlimit saved, small;
  CU_ASSERT_FATAL(getrlimit(RLIMIT_FSIZE, &saved) == 0);
  small = saved;
  small.rlim_cur = 1000;
  void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN); /* get EFBIG instead of being killed */
  fflush(NULL);                                          /* our own logs must not hit the limit */
  CU_ASSERT_FATAL(setrlimit(RLIMIT_FSIZE, &small) == 0);
  int rc[2];
  dpt_err errs[2] = {{0}, {0}};
  for (int gzip = 0; gzip <= 1; gzip++)
    rc[gzip] = dpt_idx_write(path, 2, (const uint32_t[]){60, 1000}, data, gzip, &errs[gzip]);
  CU_ASSERT_FATAL(setrlimit(RLIMIT_FSIZE, &saved) == 0);
  signal(SIGXFSZ, old_handler);

  for (int gzip = 0; gzip <= 1; gzip++) {
    CU_ASSERT_EQUAL(rc[gzip], DPT_EIO);
    expect_msg(&errs[gzip], path);
    expect_msg(&errs[gzip], "cannot write");
  }
  CU_ASSERT_EQUAL(count_entries_with(dir, ".tmp."), 0);
  dpt_idx idx;
  CU_ASSERT_FATAL(dpt_idx_read(path, &idx, &err) == 0);
  CU_ASSERT(idx.count == 2 && idx.data[0] == 4 && idx.data[1] == 4);
  dpt_idx_free(&idx);
}

static void test_write_into_missing_directory(void)
{
  char path[4096];
  dpt_test_path(path, sizeof path, "no-such-dir/labels");
  uint8_t byte = 1;
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_idx_write(path, 1, (const uint32_t[]){1}, &byte, 0, &err), DPT_EIO);
  expect_msg(&err, path);
  expect_msg(&err, "cannot create a temporary file");
}

/* ---- data sets ------------------------------------------------------------------------------- */

enum { TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS };
static const char *const names[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                     "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

/* A generated MNIST-like set in memory: random pixels except feature 0, which is constant in
 * training (17) and 20 in testing, labels i % classes. */
typedef struct gen_set {
  uint32_t train_dims[3], test_dims[3];
  uint8_t *train_x, *test_x, *train_y, *test_y;
} gen_set;

static void gen_make(gen_set *g, uint32_t ntrain, uint32_t ntest, uint32_t h, uint32_t w,
                     int classes)
{
  g->train_dims[0] = ntrain;
  g->test_dims[0] = ntest;
  g->train_dims[1] = g->test_dims[1] = h;
  g->train_dims[2] = g->test_dims[2] = w;
  size_t f = (size_t)h * w;
  g->train_x = malloc(ntrain * f);
  g->test_x = malloc(ntest * f);
  g->train_y = malloc(ntrain);
  g->test_y = malloc(ntest);
  CU_ASSERT_FATAL(g->train_x && g->test_x && g->train_y && g->test_y);
  fill_random(g->train_x, ntrain * f, 11, 256);
  fill_random(g->test_x, ntest * f, 12, 256);
  for (uint32_t i = 0; i < ntrain; i++) {
    g->train_x[i * f] = 17;
    g->train_y[i] = (uint8_t)(i % (uint32_t)classes);
  }
  for (uint32_t i = 0; i < ntest; i++) {
    g->test_x[i * f] = 20;
    g->test_y[i] = (uint8_t)(i % (uint32_t)classes);
  }
}

/* Writes file `which` of the set into dir, compressed when gzip (the name then ends in .gz). */
static void gen_write_one(const gen_set *g, const char *dir, int which, int gzip)
{
  char path[4096], name[64];
  snprintf(name, sizeof name, "%s%s", names[which], gzip ? ".gz" : "");
  join(path, sizeof path, dir, name);
  const uint32_t *dims = which < TEST_IMAGES ? g->train_dims : g->test_dims;
  const uint8_t *data[4] = {g->train_x, g->train_y, g->test_x, g->test_y};
  int rank = which == TRAIN_IMAGES || which == TEST_IMAGES ? 3 : 1;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_idx_write(path, rank, dims, data[which], gzip, &err) == 0);
}

/* Mixed names on purpose: both the .gz and the raw lookup are used. */
static void gen_write(const gen_set *g, const char *dir)
{
  for (int which = 0; which < 4; which++) gen_write_one(g, dir, which, which % 2 == 0);
}

static void gen_free(gen_set *g)
{
  free(g->train_x);
  free(g->test_x);
  free(g->train_y);
  free(g->test_y);
}

/* dpt_data_load_dir refuses dir with DPT_EINPUT and the wanted text, leaving empty outputs. */
static void expect_dir_refused(const char *dir, const char *want1, const char *want2)
{
  dpt_dataset train, test;
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_data_load_dir(dir, NULL, &train, &test, &err), DPT_EINPUT);
  expect_msg(&err, want1);
  expect_msg(&err, want2);
  CU_ASSERT(train.x == NULL && train.y == NULL && train.count == 0);
  CU_ASSERT(test.x == NULL && test.y == NULL && test.count == 0);
}

static void test_load_pair_keeps_raw_values(void)
{
  char dir[4096], images[4096], labels[4096];
  make_dir(dir, sizeof dir, "pair");
  gen_set g;
  gen_make(&g, 8, 3, 4, 3, 5);
  gen_write(&g, dir);
  join(images, sizeof images, dir, "train-images-idx3-ubyte.gz");
  join(labels, sizeof labels, dir, "train-labels-idx1-ubyte");
  dpt_dataset ds;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_data_load_pair(images, labels, &ds, &err) == 0);
  CU_ASSERT_EQUAL(ds.count, 8);
  CU_ASSERT_EQUAL(ds.features, 12);
  CU_ASSERT(ds.rank == 2 && ds.shape[0] == 4 && ds.shape[1] == 3);
  CU_ASSERT_EQUAL(ds.classes, 5);
  for (size_t i = 0; i < 8 * 12; i++) CU_ASSERT_EQUAL(ds.x[i], (float)g.train_x[i]);
  for (size_t i = 0; i < 8; i++) CU_ASSERT_EQUAL(ds.y[i], g.train_y[i]);
  dpt_dataset_free(&ds);
  CU_ASSERT_PTR_NULL(ds.x);
  gen_free(&g);
}

static void test_load_pair_refuses_wrong_ranks(void)
{
  char images[4096], labels[4096], images1[4096], labels2[4096];
  dpt_test_path(images, sizeof images, "rank-images");
  dpt_test_path(labels, sizeof labels, "rank-labels");
  dpt_test_path(images1, sizeof images1, "rank1-images");
  dpt_test_path(labels2, sizeof labels2, "rank2-labels");
  const uint8_t bytes[12] = {0, 1, 2, 1, 0, 1, 0, 1, 2, 0, 1, 2};
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_idx_write(images, 3, (const uint32_t[]){3, 2, 2}, bytes, 0, &err) == 0);
  CU_ASSERT_FATAL(dpt_idx_write(labels, 1, (const uint32_t[]){3}, bytes, 0, &err) == 0);
  CU_ASSERT_FATAL(dpt_idx_write(images1, 1, (const uint32_t[]){3}, bytes, 0, &err) == 0);
  CU_ASSERT_FATAL(dpt_idx_write(labels2, 2, (const uint32_t[]){3, 1}, bytes, 0, &err) == 0);
  dpt_dataset ds;
  err = (dpt_err){0};
  CU_ASSERT_EQUAL(dpt_data_load_pair(images1, labels, &ds, &err), DPT_EINPUT);
  expect_msg(&err, images1);
  expect_msg(&err, "images file has rank 1");
  CU_ASSERT_PTR_NULL(ds.x);
  err = (dpt_err){0};
  CU_ASSERT_EQUAL(dpt_data_load_pair(images, labels2, &ds, &err), DPT_EINPUT);
  expect_msg(&err, labels2);
  expect_msg(&err, "labels file has rank 2");
  CU_ASSERT_PTR_NULL(ds.x);
}

/* Reference statistics of feature j over the raw training bytes, in double. */
static void ref_stats(const gen_set *g, size_t f, size_t j, double *mean, double *std)
{
  double s = 0, s2 = 0;
  for (uint32_t i = 0; i < g->train_dims[0]; i++) s += g->train_x[i * f + j];
  *mean = s / g->train_dims[0];
  for (uint32_t i = 0; i < g->train_dims[0]; i++) {
    double d = g->train_x[i * f + j] - *mean;
    s2 += d * d;
  }
  *std = sqrt(s2 / g->train_dims[0]);
}

static void test_load_dir_standardizes(void)
{
  char dir[4096];
  make_dir(dir, sizeof dir, "set");
  gen_set g;
  gen_make(&g, 40, 15, 6, 5, 3);
  gen_write(&g, dir);
  dpt_dataset train, test;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_data_load_dir(dir, NULL, &train, &test, &err) == 0);
  CU_ASSERT(train.count == 40 && test.count == 15);
  CU_ASSERT(train.features == 30 && test.features == 30);
  CU_ASSERT(train.rank == 2 && train.shape[0] == 6 && train.shape[1] == 5);
  CU_ASSERT(test.rank == 2 && test.shape[0] == 6 && test.shape[1] == 5);
  CU_ASSERT(train.classes == 3 && test.classes == 3);
  for (size_t i = 0; i < 40; i++) CU_ASSERT_EQUAL(train.y[i], (int32_t)(i % 3));

  /* The constant feature is only centred: 0 in training, 20 - 17 in testing. */
  for (size_t i = 0; i < 40; i++) CU_ASSERT_EQUAL(train.x[i * 30], 0.f);
  for (size_t i = 0; i < 15; i++) CU_ASSERT_EQUAL(test.x[i * 30], 3.f);
  for (size_t j = 1; j < 30; j++) {
    double s = 0, s2 = 0, mean, std;
    for (size_t i = 0; i < 40; i++) s += train.x[i * 30 + j];
    for (size_t i = 0; i < 40; i++) {
      double d = train.x[i * 30 + j] - s / 40;
      s2 += d * d;
    }
    CU_ASSERT(fabs(s / 40) < 1e-5);
    CU_ASSERT(fabs(sqrt(s2 / 40) - 1) < 1e-5);
    ref_stats(&g, 30, j, &mean, &std);
    for (size_t i = 0; i < 15; i++) {
      float want = (float)((g.test_x[i * 30 + j] - mean) / std);
      CU_ASSERT(fabsf(test.x[i * 30 + j] - want) <= 1e-6f * (1 + fabsf(want)));
    }
  }
  dpt_dataset_free(&train);
  dpt_dataset_free(&test);
  gen_free(&g);
}

static void test_load_dir_is_deterministic(void)
{
  char dir[4096];
  make_dir(dir, sizeof dir, "twice");
  gen_set g;
  gen_make(&g, 300, 20, 7, 40, 4); /* 280 features: more than one statistics block */
  gen_write(&g, dir);
  dpt_dataset a[2], b[2];
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_data_load_dir(dir, NULL, &a[0], &a[1], &err) == 0);
  CU_ASSERT_FATAL(dpt_data_load_dir(dir, NULL, &b[0], &b[1], &err) == 0);
  CU_ASSERT(memcmp(a[0].x, b[0].x, 300 * 280 * sizeof(float)) == 0);
  CU_ASSERT(memcmp(a[1].x, b[1].x, 20 * 280 * sizeof(float)) == 0);
  /* Features past the first block are standardized too. */
  double s = 0;
  for (size_t i = 0; i < 300; i++) s += a[0].x[i * 280 + 279];
  CU_ASSERT(fabs(s / 300) < 1e-5);
  for (int i = 0; i < 2; i++) {
    dpt_dataset_free(&a[i]);
    dpt_dataset_free(&b[i]);
  }
  gen_free(&g);
}

/* A stop check that asks on its stop_at-th poll (0: never), counting every poll. */
typedef struct poll_counter {
  int polls, stop_at;
} poll_counter;

static bool stop_on_poll(void *ctx)
{
  poll_counter *c = ctx;
  c->polls++;
  return c->stop_at && c->polls >= c->stop_at;
}

/* The load polls its stop check between reads; a request at any of those points ends it with
 * DPT_EINTERRUPTED, empty outputs and nothing leaked (AddressSanitizer's build checks that). */
static void test_load_dir_stops_on_request(void)
{
  char dir[4096];
  make_dir(dir, sizeof dir, "stopped");
  gen_set g;
  gen_make(&g, 300, 20, 7, 40, 4);
  gen_write(&g, dir);
  dpt_dataset train, test;
  dpt_err err = {0};
  poll_counter all = {0};
  dpt_stop_check never = {.requested = stop_on_poll, .ctx = &all};
  CU_ASSERT_FATAL(dpt_data_load_dir(dir, &never, &train, &test, &err) == 0);
  dpt_dataset_free(&train);
  dpt_dataset_free(&test);
  CU_ASSERT(all.polls >= 8); /* at least a header and a payload read per file */
  for (int at = 1; at <= all.polls; at++) {
    poll_counter c = {.stop_at = at};
    dpt_stop_check stop = {.requested = stop_on_poll, .ctx = &c};
    dpt_err_clear(&err);
    CU_ASSERT_EQUAL(dpt_data_load_dir(dir, &stop, &train, &test, &err), DPT_EINTERRUPTED);
    expect_msg(&err, "stopped on request");
    CU_ASSERT(train.x == NULL && train.y == NULL && train.count == 0);
    CU_ASSERT(test.x == NULL && test.y == NULL && test.count == 0);
    CU_ASSERT_EQUAL(c.polls, at); /* it stopped at once */
  }
  gen_free(&g);
}

static void test_standardize_known_values(void)
{
  /* Two features over four samples: {1,2,3,4} (mean 2.5, population std sqrt(1.25)) and
   * {5,5,5,5} (constant: only centred). */
  float x[8] = {1, 5, 2, 5, 3, 5, 4, 5}, tx[2] = {6, 7};
  dpt_dataset train = {.count = 4, .features = 2, .x = x};
  dpt_dataset test = {.count = 1, .features = 2, .x = tx};
  dpt_data_standardize(&train, &test);
  const double s = sqrt(1.25);
  const float want[8] = {(float)(-1.5 / s), 0, (float)(-0.5 / s), 0, (float)(0.5 / s), 0,
                         (float)(1.5 / s), 0};
  CU_ASSERT_EQUAL(dpt_test_count_mismatch(x, want, 8, 0, 1e-6f), 0);
  CU_ASSERT(fabsf(tx[0] - (float)(3.5 / s)) < 1e-6f);
  CU_ASSERT_EQUAL(tx[1], 2.f);
}

static void test_load_dir_prefers_gz(void)
{
  char dir[4096], path[4096];
  make_dir(dir, sizeof dir, "prefer-gz");
  gen_set g;
  gen_make(&g, 10, 4, 2, 2, 2);
  for (int which = 0; which < 4; which++) gen_write_one(&g, dir, which, 1);
  /* Raw twins that would fail: they must not be read while the .gz exists. */
  join(path, sizeof path, dir, names[TRAIN_IMAGES]);
  write_bytes(path, "junk", 4, 0);
  dpt_dataset train, test;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_data_load_dir(dir, NULL, &train, &test, &err) == 0);
  CU_ASSERT_EQUAL(train.count, 10);
  dpt_dataset_free(&train);
  dpt_dataset_free(&test);
  /* Without the .gz the raw file is used (and refused). */
  char gz[4096];
  join(gz, sizeof gz, dir, "train-images-idx3-ubyte.gz");
  CU_ASSERT_FATAL(unlink(gz) == 0);
  expect_dir_refused(dir, path, "bad magic");
  gen_free(&g);
}

static void test_classes_from_train_and_test(void)
{
  char dir[4096];
  make_dir(dir, sizeof dir, "classes");
  gen_set g;
  gen_make(&g, 12, 5, 3, 3, 2);
  g.test_y[3] = 6; /* a label seen only in testing */
  gen_write(&g, dir);
  dpt_dataset train, test;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_data_load_dir(dir, NULL, &train, &test, &err) == 0);
  CU_ASSERT(train.classes == 7 && test.classes == 7);
  CU_ASSERT_EQUAL(test.y[3], 6);
  dpt_dataset_free(&train);
  dpt_dataset_free(&test);
  gen_free(&g);
}

/* ---- folders the loader refuses: one row each ------------------------------------------------ */

/* After a valid set is written: rewrite train labels one short. */
static void spoil_train_label_count(gen_set *g, const char *dir)
{
  g->train_dims[0]--;
  gen_write_one(g, dir, TRAIN_LABELS, 0);
}

/* Test images of the same feature count, another shape (5x6 for 6x5). */
static void spoil_test_shape(gen_set *g, const char *dir)
{
  g->test_dims[1] = g->train_dims[2];
  g->test_dims[2] = g->train_dims[1];
  gen_write_one(g, dir, TEST_IMAGES, 1);
}

static void spoil_empty_test_set(gen_set *g, const char *dir)
{
  g->test_dims[0] = 0;
  gen_write_one(g, dir, TEST_IMAGES, 1);
}

typedef struct refused_set {
  uint32_t train, test, h, w;                   /* the generated set: counts and sample shape */
  int classes;
  void (*spoil)(gen_set *g, const char *dir);   /* what makes it bad; NULL: the set as made */
  const char *file;                             /* the file the message names */
  const char *want;                             /* and what it says */
} refused_set;

static const refused_set refused_sets[] = {
  {6, 2, 2, 2, 1, NULL, "t10k-labels-idx1-ubyte",
   "every label is 0: need at least 2 classes"},
  {40, 15, 6, 5, 3, spoil_train_label_count, "train-images-idx3-ubyte.gz",
   "has 40 images but"},
  {40, 15, 6, 5, 3, spoil_train_label_count, "train-labels-idx1-ubyte",
   "has 39 labels"},
  {10, 4, 6, 5, 3, spoil_test_shape, "t10k-images-idx3-ubyte.gz",
   "sample shape 5x6 differs from the training set's 6x5"},
  {10, 4, 2, 2, 3, spoil_empty_test_set, "t10k-images-idx3-ubyte.gz",
   "contains no samples"},
};

static void test_refused_sets(void)
{
  for (size_t i = 0; i < sizeof refused_sets / sizeof refused_sets[0]; i++) {
    const refused_set *c = &refused_sets[i];
    char dir[4096], file[4096], folder[32];
    snprintf(folder, sizeof folder, "refused-%zu", i);
    make_dir(dir, sizeof dir, folder);
    gen_set g;
    gen_make(&g, c->train, c->test, c->h, c->w, c->classes);
    gen_write(&g, dir);
    if (c->spoil) c->spoil(&g, dir);
    expect_dir_refused(dir, join(file, sizeof file, dir, c->file), c->want);
    gen_free(&g);
  }
}

static void test_missing_dir_and_files(void)
{
  char dir[4096], file[4096];
  dpt_test_path(dir, sizeof dir, "no-such-set");
  expect_dir_refused(dir, dir, ": no such directory");

  make_dir(dir, sizeof dir, "incomplete");
  gen_set g;
  gen_make(&g, 10, 4, 2, 2, 3);
  for (int which = 0; which < 3; which++) gen_write_one(&g, dir, which, which == 1);
  expect_dir_refused(dir, dir, "missing t10k-labels-idx1-ubyte (neither t10k-labels-idx1-ubyte.gz "
                               "nor t10k-labels-idx1-ubyte exists)");
  gen_free(&g);

  join(file, sizeof file, dir, names[TRAIN_IMAGES]);
  expect_dir_refused(file, file, "not a directory");
}

/* ---- the real Fashion-MNIST ------------------------------------------------------------------ */

static void test_fashion_mnist(void)
{
  dpt_dataset train, test;
  dpt_err err = {0};
  int rc = dpt_data_load_dir(FASHION_DIR, NULL, &train, &test, &err);
  if (rc) fprintf(stderr, "\n  %s\n", err.msg);
  CU_ASSERT_FATAL(rc == DPT_OK);
  CU_ASSERT(train.count == 60000 && test.count == 10000);
  CU_ASSERT(train.features == 784 && train.rank == 2);
  CU_ASSERT(train.shape[0] == 28 && train.shape[1] == 28);
  CU_ASSERT(train.classes == 10 && test.classes == 10);
  /* The published split is balanced: 6000 and 1000 samples per class. */
  int per_class[2][10] = {{0}};
  for (size_t i = 0; i < train.count; i++) per_class[0][train.y[i]]++;
  for (size_t i = 0; i < test.count; i++) per_class[1][test.y[i]]++;
  for (int c = 0; c < 10; c++) CU_ASSERT(per_class[0][c] == 6000 && per_class[1][c] == 1000);
  const size_t probe[] = {0, 14 * 28 + 14, 783};
  for (int p = 0; p < 3; p++) {
    double s = 0, s2 = 0;
    for (size_t i = 0; i < train.count; i++) s += train.x[i * 784 + probe[p]];
    double mean = s / (double)train.count;
    for (size_t i = 0; i < train.count; i++) {
      double d = train.x[i * 784 + probe[p]] - mean;
      s2 += d * d;
    }
    CU_ASSERT(fabs(mean) < 1e-4);
    CU_ASSERT(fabs(sqrt(s2 / (double)train.count) - 1) < 1e-3);
  }
  dpt_dataset_free(&train);
  dpt_dataset_free(&test);
}

/* ---- registration ---------------------------------------------------------------------------- */

int dpt_test_register(void)
{
  static const dpt_test_case idx_tests[] = {
      DPT_TEST(test_round_trip_labels),
      DPT_TEST(test_round_trip_images),
      DPT_TEST(test_round_trip_max_rank),
      DPT_TEST(test_round_trip_large),
      DPT_TEST(test_malformed_refused),
      DPT_TEST(test_missing_file_and_directory),
      DPT_TEST(test_corrupt_gzip),
      DPT_TEST(test_truncated_gzip),
      DPT_TEST(test_gzip_bad_crc),
      DPT_TEST(test_write_refuses_bad_rank),
      DPT_TEST(test_write_replaces_atomically),
      DPT_TEST(test_write_failure_leaves_no_partial_output),
      DPT_TEST(test_write_into_missing_directory),
      DPT_TEST_END,
  };
  static const dpt_test_case dataset_tests[] = {
      DPT_TEST(test_load_pair_keeps_raw_values),
      DPT_TEST(test_load_pair_refuses_wrong_ranks),
      DPT_TEST(test_load_dir_standardizes),
      DPT_TEST(test_load_dir_is_deterministic),
      DPT_TEST(test_load_dir_stops_on_request),
      DPT_TEST(test_standardize_known_values),
      DPT_TEST(test_load_dir_prefers_gz),
      DPT_TEST(test_classes_from_train_and_test),
      DPT_TEST(test_refused_sets),
      DPT_TEST(test_missing_dir_and_files),
      DPT_TEST_END,
  };
  static const dpt_test_case fashion_tests[] = {
      DPT_TEST(test_fashion_mnist),
      DPT_TEST_END,
  };
  int rc = dpt_test_add_suite("idx", idx_tests);
  if (rc == CUE_SUCCESS) rc = dpt_test_add_suite("dataset", dataset_tests);
  if (rc == CUE_SUCCESS) rc = dpt_test_add_suite("fashion-mnist", fashion_tests);
  if (rc != CUE_SUCCESS) return rc;
  /* Only where the data set is installed; elsewhere CUnit reports the suite as inactive. */
  struct stat st;
  if (stat(FASHION_DIR, &st) != 0 || !S_ISDIR(st.st_mode))
    return CU_set_suite_active(CU_get_suite("fashion-mnist"), CU_FALSE);
  return CUE_SUCCESS;
}
