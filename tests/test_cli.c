/* The command line: defaults, every option, and a one-line error naming the culprit for bad
 * values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/cli/cli.h"
#include "tests/lib/test_util.h"

static int parse(dpt_config *cfg, dpt_err *err, const char *a1, const char *a2, const char *a3)
{
  char *argv[5] = {"dptrain", (char *)a1, (char *)a2, (char *)a3, NULL};
  int argc = 1 + (a1 != NULL) + (a2 != NULL) + (a3 != NULL);
  dpt_cli_action action;
  dpt_err_clear(err);
  return dpt_cli_parse(argc, argv, cfg, &action, err);
}

static void test_defaults(void)
{
  dpt_config cfg;
  dpt_err err;
  CU_ASSERT_FATAL(parse(&cfg, &err, NULL, NULL, NULL) == 0);
  CU_ASSERT_STRING_EQUAL(cfg.data_dir, "/usr/share/datasets/fashion-mnist");
  CU_ASSERT_EQUAL(cfg.n_hidden, 2);
  CU_ASSERT_EQUAL(cfg.workers, 1);
  CU_ASSERT_EQUAL(cfg.strategy, DPT_STRATEGY_ALLREDUCE);
  CU_ASSERT(cfg.epochs >= 1 && cfg.epochs <= 10);
}

static void test_every_option_parses(void)
{
  char *argv[] = {"dptrain", "--data", "/d", "--hidden", "64,32,16", "--epochs", "4",
                  "--batch", "100", "--lr", "0.2", "--momentum", "0", "--weight-decay", "0",
                  "--lr-schedule", "step", "--warmup-epochs", "0", "--lr-step-epochs", "2",
                  "--lr-gamma", "0.5", "--seed", "18446744073709551615", "--report", "r.json",
                  "--quiet", "--workers", "3", "--strategy", "ps", "--ps-shards", "5",
                  "--ps-threads", "3", "--device", "cpu", "--check-replicas", "--timeout", "2.5", NULL};
  int argc = (int)(sizeof argv / sizeof argv[0]) - 1;
  dpt_config cfg;
  dpt_cli_action action;
  dpt_err err = {0};
  CU_ASSERT_FATAL(dpt_cli_parse(argc, argv, &cfg, &action, &err) == 0);
  CU_ASSERT_EQUAL(action, DPT_CLI_TRAIN);
  CU_ASSERT_STRING_EQUAL(cfg.data_dir, "/d");
  CU_ASSERT_EQUAL(cfg.n_hidden, 3);
  CU_ASSERT_EQUAL(cfg.hidden[2], 16);
  CU_ASSERT_EQUAL(cfg.epochs, 4);
  CU_ASSERT_EQUAL(cfg.batch, 100);
  CU_ASSERT_DOUBLE_EQUAL(cfg.schedule.base_lr, 0.2, 1e-7);
  CU_ASSERT_EQUAL(cfg.schedule.decay, DPT_LR_STEP);
  CU_ASSERT_EQUAL(cfg.schedule.step_epochs, 2);
  CU_ASSERT_EQUAL(cfg.seed, UINT64_MAX);
  CU_ASSERT(cfg.quiet && cfg.check_replicas);
  CU_ASSERT_EQUAL(cfg.workers, 3);
  CU_ASSERT_EQUAL(cfg.strategy, DPT_STRATEGY_PS);
  CU_ASSERT_EQUAL(cfg.ps_shards, 5);
  CU_ASSERT_EQUAL(cfg.ps_threads, 3);
  CU_ASSERT_EQUAL(cfg.device, DPT_DEVICE_SELECT_CPU);
  CU_ASSERT_DOUBLE_EQUAL(cfg.timeout_s, 2.5, 1e-12);
}

/* A value the row must accept: its default, else its lower bound (or just above it), its first
 * choice, or a word. */
static const char *valid_value(const dpt_option *row, char *buf, size_t size)
{
  if (row->default_value) return row->default_value;
  if (strcmp(row->name, "straggler") == 0) return "1:2.5"; /* a string with a grammar */
  switch (row->kind) {
  case DPT_OPT_CHOICE: case DPT_OPT_CHOICE_LIST: return row->choices[0];
  case DPT_OPT_STRING: return "x";
  default: snprintf(buf, size, "%.17g", row->min_open ? row->max : row->min); return buf;
  }
}

/* One option alone, without the checks between options (--ps-shards needs --strategy ps). */
static int parse_one(dpt_config *cfg, dpt_err *err, const char *arg)
{
  char *argv[] = {"dptrain", (char *)arg, NULL};
  dpt_cli_action action;
  dpt_err_clear(err);
  return dpt_cli_parse_with(2, argv, NULL, cfg, &action, err);
}

static void expect_accepted(dpt_config *cfg, const char *arg)
{
  dpt_err err;
  int rc = parse_one(cfg, &err, arg);
  if (rc) fprintf(stderr, "\n  %s refused: %s\n", arg, err.msg);
  CU_ASSERT_EQUAL(rc, 0);
}

static bool numeric(const dpt_option *row)
{
  return row->kind == DPT_OPT_INT || row->kind == DPT_OPT_LONG || row->kind == DPT_OPT_FLOAT ||
         row->kind == DPT_OPT_DOUBLE || row->kind == DPT_OPT_INT_LIST;
}

/* Every row of the table: its default is what dpt_config_defaults stores, its help lists it with
 * that default, and its bounds are exactly the ones the parser enforces. */
static void test_every_row(void)
{
  dpt_config defaults, cfg;
  dpt_config_defaults(&defaults);
  dpt_option_table table = dpt_cli_train_options(&cfg);
  char *help = NULL;
  size_t help_len = 0;
  FILE *h = open_memstream(&help, &help_len);
  dpt_cli_print_help(h);
  fclose(h);
  for (size_t i = 0; i < table.n_rows; i++) {
    const dpt_option *row = &table.rows[i];
    char name[64], arg[128], buf[64];
    snprintf(name, sizeof name, "--%s", row->name);
    dpt_err err = {0};
    if (row->kind == DPT_OPT_ACTION) continue;
    CU_ASSERT_PTR_NOT_NULL(strstr(help, name));
    if (row->default_value) { /* the default, given explicitly, changes nothing */
      snprintf(arg, sizeof arg, "[%s]", row->default_value);
      CU_ASSERT_PTR_NOT_NULL(strstr(help, arg));
      snprintf(arg, sizeof arg, "%s=%s", name, row->default_value);
      CU_ASSERT_EQUAL_FATAL(parse_one(&cfg, &err, arg), 0);
      if (row->kind == DPT_OPT_STRING) { /* the same text, from argv */
        const char **got = (const char **)((char *)&cfg + row->offset);
        CU_ASSERT_STRING_EQUAL(*got, row->default_value);
        *got = *(const char **)((char *)&defaults + row->offset);
      }
      CU_ASSERT(memcmp(&cfg, &defaults, sizeof cfg) == 0);
    }
    if (row->kind == DPT_OPT_FLAG) {
      expect_accepted(&cfg, name);
      continue;
    }
    snprintf(arg, sizeof arg, "%s=%s", name, valid_value(row, buf, sizeof buf));
    expect_accepted(&cfg, arg);
    if (!numeric(row)) continue;
    snprintf(arg, sizeof arg, "%s=%.17g", name, row->max);
    expect_accepted(&cfg, arg);
    /* Just past either bound: refused, naming the option. */
    double past[] = {row->max + (row->max >= 1 ? 1 : 1e-3), row->min_open ? row->min : row->min - 1};
    for (int k = 0; k < 2; k++) {
      snprintf(arg, sizeof arg, "%s=%.17g", name, past[k]);
      CU_ASSERT_EQUAL(parse_one(&cfg, &err, arg), DPT_EINPUT);
      CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, name));
    }
  }
  free(help);
}

static void test_help_version_and_auto_workers(void)
{
  dpt_config cfg;
  dpt_err err = {0};
  dpt_cli_action action;
  char *h[] = {"dptrain", "--help", NULL};
  CU_ASSERT(dpt_cli_parse(2, h, &cfg, &action, &err) == 0 && action == DPT_CLI_HELP);
  char *v[] = {"dptrain", "--version", NULL};
  CU_ASSERT(dpt_cli_parse(2, v, &cfg, &action, &err) == 0 && action == DPT_CLI_VERSION);
  CU_ASSERT(parse(&cfg, &err, "--workers", "auto", NULL) == 0 && cfg.workers == 0);
}

/* Each bad command line must fail with DPT_EINPUT and a message containing `want`. */
static void expect_error(const char *a1, const char *a2, const char *a3, const char *want)
{
  dpt_config cfg;
  dpt_err err;
  int rc = parse(&cfg, &err, a1, a2, a3);
  CU_ASSERT_EQUAL(rc, DPT_EINPUT);
  if (!strstr(err.msg, want)) fprintf(stderr, "\n  message '%s' lacks '%s'\n", err.msg, want);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want));
  CU_ASSERT_PTR_NULL(strchr(err.msg, '\n'));
}

static void test_bad_values(void)
{
  expect_error("--batch", "0", NULL, "--batch 0: must be between 1");
  expect_error("--batch", "12x", NULL, "--batch '12x': not a whole number");
  expect_error("--epochs", "-3", NULL, "--epochs -3");
  expect_error("--lr", "-0.1", NULL, "--lr -0.1: must be > 0");
  expect_error("--lr", "0", NULL, "--lr 0: must be > 0");
  expect_error("--lr", "nan", NULL, "--lr 'nan': not a finite number");
  expect_error("--lr", "", NULL, "--lr '': not a finite number");
  expect_error("--momentum", "1.5", NULL, "--momentum 1.5");
  expect_error("--weight-decay", "-1", NULL, "--weight-decay -1");
  expect_error("--hidden", "512,0", NULL, "--hidden 0: must be between 1");
  expect_error("--hidden", "512,,3", NULL, "--hidden '512,,3'");
  expect_error("--hidden", "abc", NULL, "--hidden 'abc'");
  expect_error("--workers", "0", NULL, "--workers 0");
  expect_error("--workers", "two", NULL, "--workers 'two'");
  expect_error("--strategy", "gossip", NULL, "--strategy 'gossip': must be one of allreduce, ps");
  expect_error("--device", "tpu", NULL, "--device 'tpu'");
  expect_error("--lr-schedule", "linear", NULL, "--lr-schedule 'linear'");
  expect_error("--seed", "-1", NULL, "--seed -1: must not be negative");
  expect_error("--timeout", "0", NULL, "--timeout 0");
  expect_error("--ps-shards", "0", NULL, "--ps-shards 0");
  expect_error("--strategy", "allreduce", "--ps-shards=2", "--ps-shards: only meaningful");
  expect_error("--ps-threads", "65", NULL, "--ps-threads 65");
  expect_error("--strategy", "allreduce", "--ps-threads=2", "--ps-threads: only meaningful");
}

/* Values that would not survive the conversion to their type, or that have blanks around them,
 * are refused rather than rounded, wrapped or trimmed. */
static void test_values_that_do_not_convert(void)
{
  static const struct {
    const char *option, *value, *want;
  } bad[] = {
      {"--lr", "1e-50", "--lr 1e-50: becomes 0 as a float"},
      {"--weight-decay", "1e-46", "--weight-decay 1e-46: becomes 0 as a float"},
      {"--timeout", "1e-320", "--timeout 1e-320: too close to 0 for a double"},
      {"--seed", " -1", "--seed ' -1': leading or trailing blanks"},
      {"--seed", "-0", "--seed -0: must not be negative"},
      {"--seed", "18446744073709551616", "--seed '18446744073709551616'"},
      {"--batch", " 5", "--batch ' 5': leading or trailing blanks"},
      {"--batch", "5 ", "--batch '5 ': leading or trailing blanks"},
      {"--epochs", "99999999999999999999", "--epochs 99999999999999999999: must be"},
      {"--lr", "0.1\t", "--lr '0.1\t': leading or trailing blanks"},
      {"--hidden", "512, 256", "--hidden ' 256': leading or trailing blanks"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    expect_error(bad[i].option, bad[i].value, NULL, bad[i].want);
  /* What does convert is kept: a tiny rate that is still a float, the largest seed. */
  dpt_config cfg;
  dpt_err err;
  CU_ASSERT_EQUAL(parse(&cfg, &err, "--lr", "1e-30", NULL), 0);
  CU_ASSERT_EQUAL(cfg.schedule.base_lr, 1e-30f);
  CU_ASSERT_EQUAL(parse(&cfg, &err, "--seed", "+7", NULL), 0);
  CU_ASSERT_EQUAL(cfg.seed, 7);
}

static void test_bad_usage(void)
{
  expect_error("--frobnicate", NULL, NULL, "unknown option '--frobnicate'");
  expect_error("--batch", NULL, NULL, "--batch: needs a value");
  expect_error("stray", NULL, NULL, "unexpected argument 'stray'");
}

int dpt_test_register(void)
{
  static const dpt_test_case tests[] = {
    DPT_TEST(test_defaults), DPT_TEST(test_every_option_parses), DPT_TEST(test_every_row),
    DPT_TEST(test_help_version_and_auto_workers), DPT_TEST(test_bad_values),
    DPT_TEST(test_values_that_do_not_convert),
    DPT_TEST(test_bad_usage), DPT_TEST_END};
  return dpt_test_add_suite("cli", tests);
}
