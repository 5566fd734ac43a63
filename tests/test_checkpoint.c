/* Checkpoint files: the format round-trips bit for bit; every corrupted byte, every truncation,
 * wrong magic or version, an impossible process count, trailing bytes and NaN or Inf in the
 * parameters or the optimizer state are refused with a message naming the file; version 1 and 2
 * files still read; saves are atomic. Also the test hooks' parser (DPT_FAULT) and the device's
 * NaN/Inf check. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/device.h"
#include "host/checkpoint/checkpoint_format.h"
#include "tests/lib/byte_sink.h"
#include "tests/lib/checkpoint_patch.h"
#include "host/checkpoint/checkpoint_io.h"
#include "host/train/fault.h"
#include "tests/lib/test_util.h"

/* Two MPI processes of two workers each. */
enum { WORKERS = 4, PROCESSES = 2 };

/* A 5-4-3 model (39 parameters) with distinct values everywhere, even a NaN-free mix of signs. */
static float params[39], velocity[39];
static dpt_checkpoint_worker per_worker[WORKERS];

static dpt_checkpoint sample(void)
{
  dpt_checkpoint ck = {.shape = {.n_layers = 2, .sizes = {5, 4, 3}}, .model = "fc:4,relu,fc:3",
                       .n_params = 39,
                       .workers = WORKERS, .processes = PROCESSES, .seed = 0x0123456789abcdefULL,
                       .strategy = DPT_STRATEGY_PS, .batch = 50,
                       .schedule = {.base_lr = 0.05f, .warmup_epochs = 1.f, .decay = DPT_LR_STEP,
                                    .step_epochs = 3, .gamma = 0.1f},
                       .momentum = 0.9f, .weight_decay = 5e-4f, .epochs = 3,
                       .train_samples = 1003, .train_fingerprint = 0xfedcba9876543210ULL,
                       .test_fingerprint = 0x1122334455667788ULL, .epoch = 2, .step = 7,
                       .skipped_steps = 3, .skips_in_a_row = 2, .epoch_skipped_steps = 2,
                       .per_worker = per_worker, .params = params, .velocity = velocity};
  for (int i = 0; i < 39; i++) {
    params[i] = (float)(i - 19) / 7.f;
    velocity[i] = -1e-3f * (float)(i * i);
  }
  for (int w = 0; w < WORKERS; w++)
    per_worker[w] = (dpt_checkpoint_worker){.loss_sum = 1.25 * (w + 1), .correct = 10u + w,
                                            .samples = 17};
  return ck;
}

static dpt_byte_sink encode_sample(void)
{
  dpt_checkpoint ck = sample();
  dpt_byte_sink b = {0};
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_checkpoint_encode(&ck, dpt_byte_sink_put, &b, &err) == 0);
  return b;
}

/* Decoding must fail with DPT_EINPUT and a message that names the file and contains `want`. */
static void expect_refused(const uint8_t *bytes, size_t len, const char *want)
{
  dpt_checkpoint out;
  dpt_err err = {0};
  int rc = dpt_checkpoint_decode(bytes, len, "ck.bin", &out, &err);
  CU_ASSERT_EQUAL(rc, DPT_EINPUT);
  CU_ASSERT_EQUAL(strncmp(err.msg, "ck.bin: ", 8), 0);
  if (want && !strstr(err.msg, want)) {
    fprintf(stderr, "message '%s' lacks '%s'\n", err.msg, want);
    CU_FAIL("message lacks the expected words");
  }
  CU_ASSERT_PTR_NULL(out.storage);
}

static void test_round_trip_is_exact(void)
{
  dpt_byte_sink b = encode_sample();
  CU_ASSERT_EQUAL(b.len, 128 + 56 + 24 + WORKERS * 24 + 2 * 39 * 4 + 24 + 512);
  CU_ASSERT_EQUAL(memcmp(b.bytes, "DPTCKPT", 8), 0);
  dpt_checkpoint out, want = sample();
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_checkpoint_decode(b.bytes, b.len, "ck.bin", &out, &err) == 0);
  CU_ASSERT_EQUAL(out.shape.n_layers, 2);
  CU_ASSERT_EQUAL(memcmp(out.shape.sizes, want.shape.sizes, sizeof want.shape.sizes), 0);
  CU_ASSERT_EQUAL(out.n_params, 39);
  CU_ASSERT_STRING_EQUAL(out.model, "fc:4,relu,fc:3");
  CU_ASSERT_EQUAL(out.workers, WORKERS);
  CU_ASSERT_EQUAL(out.processes, PROCESSES);
  CU_ASSERT_EQUAL(out.seed, want.seed);
  CU_ASSERT_EQUAL(out.strategy, DPT_STRATEGY_PS);
  CU_ASSERT_EQUAL(out.batch, 50);
  CU_ASSERT_EQUAL(memcmp(&out.schedule, &want.schedule, sizeof want.schedule), 0);
  CU_ASSERT_EQUAL(memcmp(&out.momentum, &want.momentum, sizeof(float)), 0);
  CU_ASSERT_EQUAL(memcmp(&out.weight_decay, &want.weight_decay, sizeof(float)), 0);
  CU_ASSERT_EQUAL(out.epochs, 3);
  CU_ASSERT_EQUAL(out.train_samples, 1003);
  CU_ASSERT_EQUAL(out.epoch, 2);
  CU_ASSERT_EQUAL(out.step, 7);
  CU_ASSERT_EQUAL(out.skipped_steps, 3);
  CU_ASSERT_EQUAL(out.skips_in_a_row, 2);
  CU_ASSERT_EQUAL(out.epoch_skipped_steps, 2);
  CU_ASSERT_EQUAL(out.train_fingerprint, want.train_fingerprint);
  CU_ASSERT_EQUAL(out.test_fingerprint, want.test_fingerprint);
  CU_ASSERT_EQUAL(memcmp(out.per_worker, per_worker, sizeof per_worker), 0);
  CU_ASSERT_EQUAL(memcmp(out.params, params, sizeof params), 0);
  CU_ASSERT_EQUAL(memcmp(out.velocity, velocity, sizeof velocity), 0);
  dpt_checkpoint_free(&out);
  CU_ASSERT_PTR_NULL(out.storage);
  free(b.bytes);
}

/* Both checksums together cover every byte: no single flipped byte gets through. */
static void test_every_flipped_byte_is_refused(void)
{
  dpt_byte_sink b = encode_sample();
  size_t passed = 0;
  for (size_t i = 0; i < b.len; i++) {
    b.bytes[i] ^= 0x10;
    dpt_checkpoint out;
    dpt_err err = {0};
    if (dpt_checkpoint_decode(b.bytes, b.len, "ck.bin", &out, &err) != DPT_EINPUT) {
      passed++;
      dpt_checkpoint_free(&out);
    }
    b.bytes[i] ^= 0x10;
  }
  CU_ASSERT_EQUAL(passed, 0);
  b.bytes[b.len - 1] ^= 1; /* the last velocity byte: a payload byte */
  expect_refused(b.bytes, b.len, "payload checksum mismatch");
  b.bytes[b.len - 1] ^= 1;
  b.bytes[40] ^= 1; /* a layer size */
  expect_refused(b.bytes, b.len, "header checksum mismatch");
  free(b.bytes);
}

static void test_every_truncation_is_refused(void)
{
  dpt_byte_sink b = encode_sample();
  for (size_t len = 0; len < b.len; len++) expect_refused(b.bytes, len, NULL);
  expect_refused(b.bytes, 100, "truncated");
  expect_refused(b.bytes, b.len - 1, "truncated");
  free(b.bytes);
}

static void test_magic_version_and_trailing_bytes(void)
{
  dpt_byte_sink b = encode_sample();
  uint8_t *longer = calloc(b.len + 1, 1);
  memcpy(longer, b.bytes, b.len);
  expect_refused(longer, b.len + 1, "trailing bytes");
  free(longer);
  b.bytes[0] = 'X';
  expect_refused(b.bytes, b.len, "not a dptrain checkpoint");
  expect_refused((const uint8_t *)"", 0, "not a dptrain checkpoint");
  b.bytes[0] = 'D';
  b.bytes[DPT_CKPT_VERSION_AT] = 5;
  expect_refused(b.bytes, b.len, "version 5; this dptrain reads versions 1 to 4");
  b.bytes[DPT_CKPT_VERSION_AT] = 0;
  expect_refused(b.bytes, b.len, "version 0");
  free(b.bytes);
}

/* The sample turned into an older version's twin by make (checkpoint_patch.h), decoded into out;
 * the caller frees both. */
static dpt_byte_sink decode_older(void (*make)(uint8_t *, size_t *), dpt_checkpoint *out)
{
  dpt_byte_sink b = encode_sample();
  make(b.bytes, &b.len);
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_checkpoint_decode(b.bytes, b.len, "ck.bin", out, &err) == 0);
  return b;
}

/* Version 3 had no model text: it held an MLP, whose text its sizes give. */
static void test_version_3_reads_as_its_mlp(void)
{
  dpt_checkpoint out;
  dpt_byte_sink b = decode_older(dpt_ckpt_make_version_3, &out);
  CU_ASSERT_STRING_EQUAL(out.model, "fc:4,relu,fc:3");
  CU_ASSERT_EQUAL(out.train_fingerprint, 0xfedcba9876543210ULL);
  /* Encoded again it is the version 4 file the fuzzer expects (dpt_ckpt_make_current). */
  dpt_byte_sink again = {0};
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_checkpoint_encode(&out, dpt_byte_sink_put, &again, &err) == 0);
  uint8_t *want = malloc(b.len + 24 + 512);
  memcpy(want, b.bytes, b.len);
  size_t want_len = b.len;
  dpt_ckpt_make_current(want, &want_len);
  CU_ASSERT_EQUAL(again.len, want_len);
  CU_ASSERT(again.len == want_len && memcmp(again.bytes, want, want_len) == 0);
  free(want);
  free(again.bytes);
  dpt_checkpoint_free(&out);
  free(b.bytes);
}

/* Any model's text is recorded, its parameters checked against the sizes only for an MLP; text
 * that no run writes is refused. */
static void test_model_text_recorded_and_checked(void)
{
  dpt_checkpoint ck = sample();
  /* conv:2:3 on 1 x 2 x 2 images (8 values), then fc:3: 2*9 + 2 + 3*8 + 3 = 47 parameters. */
  float p[47] = {0}, v[47] = {0};
  ck.shape = (dpt_mlp_shape){.n_layers = 2, .sizes = {4, 8, 3}};
  snprintf(ck.model, sizeof ck.model, "conv:2:3,relu,fc:3");
  ck.n_params = 47;
  ck.params = p;
  ck.velocity = v;
  dpt_byte_sink b = {0};
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_checkpoint_encode(&ck, dpt_byte_sink_put, &b, &err) == 0);
  dpt_checkpoint out;
  CU_ASSERT_FATAL(dpt_checkpoint_decode(b.bytes, b.len, "ck.bin", &out, &err) == 0);
  CU_ASSERT_STRING_EQUAL(out.model, "conv:2:3,relu,fc:3");
  CU_ASSERT_EQUAL(out.n_params, 47);
  dpt_checkpoint_free(&out);
  size_t model_at = b.len - 512;
  b.bytes[model_at] = 'C'; /* not the spec's characters */
  dpt_ckpt_rehash(b.bytes, b.len);
  expect_refused(b.bytes, b.len, "field 'model'");
  memset(b.bytes + model_at, 'c', 512); /* no NUL */
  dpt_ckpt_rehash(b.bytes, b.len);
  expect_refused(b.bytes, b.len, "field 'model'");
  memset(b.bytes + model_at, 0, 512); /* empty */
  dpt_ckpt_rehash(b.bytes, b.len);
  expect_refused(b.bytes, b.len, "field 'model'");
  /* An MLP's text with parameters its sizes do not give. */
  memcpy(b.bytes + model_at, "fc:8,relu,fc:3", 14);
  dpt_ckpt_rehash(b.bytes, b.len);
  expect_refused(b.bytes, b.len, "'parameter count'");
  free(b.bytes);
  b = (dpt_byte_sink){0};
  ck.model[0] = '\0';
  CU_ASSERT_EQUAL(dpt_checkpoint_encode(&ck, dpt_byte_sink_put, &b, &err), DPT_EINTERNAL);
}

/* Version 2 had no data set and epoch fields after the arrays and 0 (reserved) for the steps
 * skipped in a row: such a file reads with nothing recorded there. */
static void test_version_2_reads_with_nothing_recorded(void)
{
  dpt_checkpoint out;
  dpt_byte_sink b = decode_older(dpt_ckpt_make_version_2, &out);
  CU_ASSERT_EQUAL(out.train_fingerprint, 0);
  CU_ASSERT_EQUAL(out.test_fingerprint, 0);
  CU_ASSERT_EQUAL(out.skips_in_a_row, 0);
  CU_ASSERT_EQUAL(out.epoch_skipped_steps, 0);
  CU_ASSERT_EQUAL(out.skipped_steps, 3);
  CU_ASSERT_EQUAL(out.processes, PROCESSES);
  CU_ASSERT_EQUAL(memcmp(out.velocity, velocity, sizeof velocity), 0);
  dpt_checkpoint_free(&out);
  /* The position's second field is reserved in version 2: 0 only. */
  b.bytes[128 + 56 + 4] = 1;
  dpt_ckpt_rehash(b.bytes, b.len);
  expect_refused(b.bytes, b.len, "field 'epoch'");
  free(b.bytes);
}

/* Version 1 had 0 (reserved) where version 2 has the processes: such a file is one process's. */
static void test_version_1_reads_as_one_process(void)
{
  dpt_byte_sink b = encode_sample();
  dpt_ckpt_make_version_2(b.bytes, &b.len);
  dpt_ckpt_set_u32(b.bytes, DPT_CKPT_PROCESSES_AT, 0);
  dpt_ckpt_set_u32(b.bytes, DPT_CKPT_VERSION_AT, 1);
  dpt_checkpoint out;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_checkpoint_decode(b.bytes, b.len, "ck.bin", &out, &err) == 0);
  CU_ASSERT_EQUAL(out.processes, 1);
  CU_ASSERT_EQUAL(out.workers, WORKERS);
  CU_ASSERT_EQUAL(memcmp(out.params, params, sizeof params), 0);
  dpt_checkpoint_free(&out);
  dpt_ckpt_set_u32(b.bytes, DPT_CKPT_PROCESSES_AT, 2); /* reserved in version 1: always 0 */
  expect_refused(b.bytes, b.len, "header field 'processes'");
  free(b.bytes);
}

/* Processes must be 1..workers and divide them, on the way in and on the way out. */
static void test_impossible_processes_are_refused(void)
{
  dpt_byte_sink b = encode_sample();
  const uint32_t bad[] = {0, 3, WORKERS + 1, WORKERS * 2, 0x80000000u};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    dpt_ckpt_set_u32(b.bytes, DPT_CKPT_PROCESSES_AT, bad[i]);
    expect_refused(b.bytes, b.len, "header field 'processes' holds an impossible value");
  }
  free(b.bytes);
  dpt_checkpoint ck = sample();
  ck.processes = 3; /* 4 workers do not split over 3 processes */
  dpt_byte_sink none = {0};
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_checkpoint_encode(&ck, dpt_byte_sink_put, &none, &err), DPT_EINTERNAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "processes"));
  CU_ASSERT_EQUAL(none.len, 0);
  free(none.bytes);
}

/* Encoding ck must fail with code and a message containing want, putting nothing. */
static void expect_not_encoded(const dpt_checkpoint *ck, int code, const char *want)
{
  dpt_byte_sink none = {0};
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_checkpoint_encode(ck, dpt_byte_sink_put, &none, &err), code);
  if (!strstr(err.msg, want)) fprintf(stderr, "message '%s' lacks '%s'\n", err.msg, want);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want));
  CU_ASSERT_EQUAL(none.len, 0);
  free(none.bytes);
}

/* A header that is consistent (checksum recomputed) but describes an impossible model. */
static void test_impossible_values_are_refused(void)
{
  dpt_checkpoint ck = sample();
  dpt_byte_sink b = {0};
  dpt_err err = {0};
  ck.n_params = 40; /* not what 5-4-3 has */
  CU_ASSERT_EQUAL(dpt_checkpoint_encode(&ck, dpt_byte_sink_put, &b, &err), DPT_EINTERNAL);
  ck = sample();
  ck.step = 21; /* 1003 samples / 50 = 21 steps: 0..20 */
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(dpt_checkpoint_encode(&ck, dpt_byte_sink_put, &b, &err), DPT_EINTERNAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "step"));
  ck = sample();
  ck.per_worker[1].correct = 18; /* more than its 17 samples */
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(dpt_checkpoint_encode(&ck, dpt_byte_sink_put, &b, &err), DPT_EINTERNAL);
  CU_ASSERT_EQUAL(b.len, 0); /* nothing was written */
  free(b.bytes);
  ck = sample();
  ck.skips_in_a_row = 4; /* more than the 3 skipped in all */
  expect_not_encoded(&ck, DPT_EINTERNAL, "steps skipped in a row");
  ck = sample();
  ck.step = 1; /* 1 step done in the epoch, 2 of them skipped */
  expect_not_encoded(&ck, DPT_EINTERNAL, "steps skipped in the epoch");
}

/* NaN or Inf in the parameters or the optimizer state: not saved (DPT_ENONFINITE, nothing
 * written), and a file holding one with valid checksums is refused, naming the value. */
static void test_nonfinite_state_is_refused(void)
{
  const float bad[] = {NAN, INFINITY, -INFINITY};
  const char *names[] = {"nan", "inf", "-inf"};
  enum { PARAMS_AT = 128 + 56 + 24 + WORKERS * 24 };
  for (int array = 0; array < 2; array++)
    for (int b = 0; b < 3; b++) {
      dpt_checkpoint ck = sample();
      float *a = array ? velocity : params;
      a[5] = bad[b];
      expect_not_encoded(&ck, DPT_ENONFINITE, "checkpoint not saved");
      dpt_byte_sink file = encode_sample(); /* finite again */
      memcpy(file.bytes + PARAMS_AT + (size_t)array * 39 * 4 + 5 * 4, &bad[b], 4);
      dpt_ckpt_rehash(file.bytes, file.len);
      char want[128];
      snprintf(want, sizeof want, "%s 5 of 39 is %s: the checkpoint holds the state of a diverged",
               array ? "optimizer state (velocity) value" : "parameter", names[b]);
      expect_refused(file.bytes, file.len, want);
      free(file.bytes);
    }
  /* Saving such a state leaves the previous file as it was. */
  char path[4096];
  dpt_test_path(path, sizeof path, "diverged.ck");
  dpt_checkpoint ck = sample(), out;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_checkpoint_write_file(path, &ck, 0, &err) == 0);
  params[0] = INFINITY;
  CU_ASSERT_EQUAL(dpt_checkpoint_write_file(path, &ck, 0, &err), DPT_ENONFINITE);
  dpt_err_clear(&err);
  CU_ASSERT_FATAL(dpt_checkpoint_read_file(path, "ck", &out, &err) == 0);
  CU_ASSERT_EQUAL(out.params[0], -19.f / 7.f);
  dpt_checkpoint_free(&out);
  char cmd[8400];
  snprintf(cmd, sizeof cmd, "ls '%s' | grep -q 'diverged.ck.tmp'", dpt_test_tmpdir());
  CU_ASSERT_NOT_EQUAL(system(cmd), 0); /* no temporary file left behind */
}

static void test_file_save_is_atomic(void)
{
  char path[4096], missing[4096];
  dpt_test_path(path, sizeof path, "ck.bin");
  dpt_test_path(missing, sizeof missing, "no-such-folder/ck.bin");
  dpt_checkpoint ck = sample(), out;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_checkpoint_write_file(path, &ck, 0, &err) == 0);
  params[0] = 42.f;
  CU_ASSERT_EQUAL(dpt_checkpoint_write_file(missing, &ck, 0, &err), DPT_EIO);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, missing));
  /* A save that fails while encoding (an impossible checkpoint) leaves the old file whole. */
  ck.step = 1000;
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(dpt_checkpoint_write_file(path, &ck, 0, &err), DPT_EINTERNAL);
  dpt_err_clear(&err);
  CU_ASSERT_FATAL(dpt_checkpoint_read_file(path, "ck", &out, &err) == 0);
  CU_ASSERT_EQUAL(out.step, 7);
  CU_ASSERT_EQUAL(out.params[0], -19.f / 7.f);
  dpt_checkpoint_free(&out);
  char cmd[8400];
  snprintf(cmd, sizeof cmd, "ls '%s' | grep -q tmp", dpt_test_tmpdir());
  CU_ASSERT_NOT_EQUAL(system(cmd), 0); /* no temporary file left behind */
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(dpt_checkpoint_read_file(missing, "ck", &out, &err), DPT_EINPUT);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cannot open"));
  dpt_err_clear(&err);
  CU_ASSERT_EQUAL(dpt_checkpoint_read_file(dpt_test_tmpdir(), "ck", &out, &err), DPT_EINPUT);
}

static void test_fault_spec_parsing(void)
{
  dpt_fault f = {0};
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_fault_parse("worker=2,step=17,kind=stall", &f, &err), 0);
  CU_ASSERT_EQUAL(f.kind, DPT_FAULT_STALL);
  CU_ASSERT_EQUAL(f.worker, 2);
  CU_ASSERT_EQUAL(f.step, 17);
  CU_ASSERT_EQUAL(dpt_fault_parse("kind=nan,step=1,worker=0", &f, &err), 0);
  CU_ASSERT_EQUAL(f.kind, DPT_FAULT_NAN);
  CU_ASSERT_EQUAL(dpt_fault_parse("kind=fail,step=3,worker=1", &f, &err), 0);
  CU_ASSERT_EQUAL(f.kind, DPT_FAULT_FAIL);
  const char *bad[] = {"worker=1,step=3", "worker=1,step=0,kind=fail", "worker=-1,step=3,kind=fail",
                       "worker=1,step=3,kind=explode", "worker=1,step=3,kind=fail,color=red",
                       "worker", ""};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    dpt_err_clear(&err);
    CU_ASSERT_EQUAL(dpt_fault_parse(bad[i], &f, &err), DPT_EINPUT);
    CU_ASSERT_EQUAL(f.kind, DPT_FAULT_NONE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "DPT_FAULT"));
  }
}

static void test_cpu_has_nonfinite(void)
{
  dpt_device dev;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_device_open(DPT_DEVICE_CPU, 0, 0, &dev, &err) == 0);
  float x[37];
  for (int i = 0; i < 37; i++) x[i] = (float)i * 9e36f; /* up to 3.2e38: large but finite */
  bool any = true;
  CU_ASSERT_EQUAL(dpt_dev_has_nonfinite(&dev, 37, x, &any, &err), 0);
  CU_ASSERT_FALSE(any);
  const float bad[] = {NAN, INFINITY, -INFINITY};
  for (int b = 0; b < 3; b++) {
    x[36 - b * 11] = bad[b];
    CU_ASSERT_EQUAL(dpt_dev_has_nonfinite(&dev, 37, x, &any, &err), 0);
    CU_ASSERT_TRUE(any);
    x[36 - b * 11] = 0.f;
  }
  x[0] = NAN;
  CU_ASSERT_EQUAL(dpt_dev_has_nonfinite(&dev, 0, x, &any, &err), 0);
  CU_ASSERT_FALSE(any); /* n = 0 looks at nothing */
  CU_ASSERT_EQUAL(dpt_dev_has_nonfinite(&dev, 1, x, NULL, &err), DPT_EINTERNAL);
  dpt_device_close(&dev);
}

int dpt_test_register(void)
{
  static const dpt_test_case format[] = {DPT_TEST(test_round_trip_is_exact),
                                         DPT_TEST(test_every_flipped_byte_is_refused),
                                         DPT_TEST(test_every_truncation_is_refused),
                                         DPT_TEST(test_magic_version_and_trailing_bytes),
                                         DPT_TEST(test_version_3_reads_as_its_mlp),
                                         DPT_TEST(test_model_text_recorded_and_checked),
                                         DPT_TEST(test_version_2_reads_with_nothing_recorded),
                                         DPT_TEST(test_version_1_reads_as_one_process),
                                         DPT_TEST(test_impossible_processes_are_refused),
                                         DPT_TEST(test_impossible_values_are_refused),
                                         DPT_TEST(test_nonfinite_state_is_refused),
                                         DPT_TEST(test_file_save_is_atomic), DPT_TEST_END};
  static const dpt_test_case hooks[] = {DPT_TEST(test_fault_spec_parsing),
                                        DPT_TEST(test_cpu_has_nonfinite), DPT_TEST_END};
  int rc = dpt_test_add_suite("checkpoint_format", format);
  return rc ? rc : dpt_test_add_suite("reliability_hooks", hooks);
}
