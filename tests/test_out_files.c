/* common/: what stands at an output path decides how it is written (out_target, atomic_file),
 * and error messages longer than their buffer keep their reason (msg_fit, dpt_err_set). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "dpt/atomic_file.h"
#include "dpt/msg_fit.h"
#include "dpt/out_target.h"
#include "tests/lib/test_util.h"

static void write_text(const char *path, const char *text)
{
  dpt_err err = {0};
  dpt_atomic_file af;
  CU_ASSERT_FATAL(dpt_atomic_open(&af, path, &err) == DPT_OK);
  fputs(text, af.f);
  CU_ASSERT_EQUAL(dpt_atomic_commit(&af, &err), DPT_OK);
  if (err.code) fprintf(stderr, "\n  %s\n", err.msg);
}

static void read_text(const char *path, char *buf, size_t size)
{
  buf[0] = '\0';
  FILE *f = fopen(path, "rb");
  CU_ASSERT_FATAL(f != NULL);
  size_t n = fread(buf, 1, size - 1, f);
  buf[n] = '\0';
  fclose(f);
}

static void expect_link(const char *link, const char *target)
{
  struct stat st;
  CU_ASSERT_FATAL(lstat(link, &st) == 0);
  CU_ASSERT(S_ISLNK(st.st_mode));
  char got[PATH_MAX];
  ssize_t n = readlink(link, got, sizeof got - 1);
  CU_ASSERT_FATAL(n > 0);
  got[n] = '\0';
  CU_ASSERT_STRING_EQUAL(got, target);
}

static void test_symlink_target_replaced_link_kept(void)
{
  char real[PATH_MAX], link[PATH_MAX], buf[64];
  dpt_test_path(real, sizeof real, "real.txt");
  dpt_test_path(link, sizeof link, "link.txt");
  write_text(real, "old\n");
  CU_ASSERT_FATAL(symlink("real.txt", link) == 0);
  write_text(link, "new\n");
  expect_link(link, "real.txt");
  read_text(real, buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, "new\n");
}

/* A chain of relative links in other folders, ending at a name not created yet. */
static void test_dangling_link_chain_creates_its_target(void)
{
  char sub[PATH_MAX], other[PATH_MAX], l0[PATH_MAX], l1[PATH_MAX], end[PATH_MAX], buf[64];
  dpt_test_path(sub, sizeof sub, "chain-sub");
  dpt_test_path(other, sizeof other, "chain-other");
  CU_ASSERT_FATAL(mkdir(sub, 0777) == 0 && mkdir(other, 0777) == 0);
  dpt_test_path(l0, sizeof l0, "chain-l0");
  dpt_test_path(l1, sizeof l1, "chain-sub/l1");
  dpt_test_path(end, sizeof end, "chain-other/end.txt");
  CU_ASSERT_FATAL(symlink("chain-sub/l1", l0) == 0 && symlink("../chain-other/end.txt", l1) == 0);
  write_text(l0, "chained\n");
  expect_link(l0, "chain-sub/l1");
  expect_link(l1, "../chain-other/end.txt");
  read_text(end, buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, "chained\n");
}

/* The read end is opened first (without waiting for a writer), so the write's open finds a reader
 * and nothing blocks; the bytes wait in the pipe. */
static void test_fifo_written_through_and_kept(void)
{
  char fifo[PATH_MAX], got[64] = "";
  dpt_test_path(fifo, sizeof fifo, "out.fifo");
  CU_ASSERT_FATAL(mkfifo(fifo, 0600) == 0);
  dpt_out_target t;
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_out_target_resolve(NULL, fifo, &t, &err), DPT_OK);
  CU_ASSERT_EQUAL(t.kind, DPT_OUT_THROUGH);
  int reader = open(fifo, O_RDONLY | O_NONBLOCK);
  CU_ASSERT_FATAL(reader >= 0);
  write_text(fifo, "through\n");
  ssize_t n = read(reader, got, sizeof got - 1);
  got[n > 0 ? n : 0] = '\0';
  close(reader);
  CU_ASSERT_STRING_EQUAL(got, "through\n");
  struct stat st;
  CU_ASSERT(lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode));
}

static void expect_refused(const char *path, const char *want)
{
  dpt_out_target t;
  dpt_err err = {0};
  CU_ASSERT_EQUAL(dpt_out_target_resolve("--report", path, &t, &err), DPT_EINPUT);
  int has = strstr(err.msg, want) != NULL;
  if (!has) fprintf(stderr, "\n  message \"%s\" lacks \"%s\"\n", err.msg, want);
  CU_ASSERT(has);
}

static void test_refused_kinds_and_lengths(void)
{
  char sock_path[PATH_MAX], long_name[PATH_MAX], long_path[PATH_MAX + 16];
  dpt_test_path(sock_path, sizeof sock_path, "s.sock");
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  size_t n = strlen(sock_path);
  CU_ASSERT_FATAL(n < sizeof addr.sun_path);
  memcpy(addr.sun_path, sock_path, n + 1);
  CU_ASSERT_FATAL(fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0);
  expect_refused(sock_path, "is a socket");
  close(fd);
  expect_refused(dpt_test_tmpdir(), "is a folder");
  char name[NAME_MAX + 2];
  memset(name, 'n', NAME_MAX + 1);
  name[NAME_MAX + 1] = '\0';
  dpt_test_path(long_name, sizeof long_name, name);
  expect_refused(long_name, "is 256 bytes; the system allows 255");
  name[NAME_MAX - 5] = '\0'; /* fits alone, not with ".tmp.<host>.<pid>" */
  dpt_test_path(long_name, sizeof long_name, name);
  expect_refused(long_name, "with the temporary file's suffix");
  memset(long_path, 'p', sizeof long_path - 1);
  for (size_t i = 0; i < sizeof long_path - 1; i += 100) long_path[i] = '/';
  long_path[sizeof long_path - 1] = '\0';
  expect_refused(long_path, "the system allows 4095");
}

/* A message far past DPT_ERR_MSG_MAX: two long paths shortened in their middle, every word of the
 * reason kept, the text still valid UTF-8 around the cuts. */
static void test_long_message_keeps_its_reason(void)
{
  static char a[3000], b[3000];
  memset(a, 'a', sizeof a - 1);
  memset(b, 'b', sizeof b - 1);
  memcpy(a + 1400, "\xc3\xa9\xc3\xa9\xc3\xa9", 6); /* é, where a cut may fall */
  a[0] = b[0] = '/';
  memcpy(b + sizeof b - 9, "name.gz", 8);
  dpt_err err = {0};
  const char *reason = "sample shape 5x5 differs from the training set's 4x4";
  dpt_err_set(&err, DPT_EINPUT, "--data %s: %s (%s and %s)", a, reason, b, a);
  size_t len = strlen(err.msg);
  CU_ASSERT(len < DPT_ERR_MSG_MAX && len > 512);
  CU_ASSERT(strstr(err.msg, reason) != NULL);
  CU_ASSERT(strncmp(err.msg, "--data /aaa", 11) == 0);
  CU_ASSERT(strstr(err.msg, "name.gz and /aaa") != NULL);
  CU_ASSERT(strstr(err.msg, "...") != NULL);
  for (size_t i = 0; i + 1 < len; i++) /* no lead byte left without its continuation byte */
    if ((unsigned char)err.msg[i] == 0xc3) CU_ASSERT((unsigned char)err.msg[i + 1] == 0xa9);
}

/* Past 512 bytes but within the buffer: the message is whole. */
static void test_message_over_512_bytes_intact(void)
{
  char path[1200];
  memset(path, 'x', sizeof path - 1);
  path[sizeof path - 1] = '\0';
  dpt_err err = {0};
  dpt_err_set(&err, DPT_EINPUT, "--report %s: folder '%s' does not exist", path, path);
  CU_ASSERT_EQUAL(strlen(err.msg), strlen("--report : folder '' does not exist") + 2 * strlen(path));
}

static void test_msg_fit_short_words_cut_at_end(void)
{
  char msg[64];
  snprintf(msg, sizeof msg, "one two three four five six seven eight nine ten");
  size_t len = dpt_msg_fit(msg, strlen(msg), 20);
  CU_ASSERT_EQUAL(len, 19);
  CU_ASSERT_STRING_EQUAL(msg, "one two three fo...");
}

int dpt_test_register(void)
{
  static const dpt_test_case targets[] = {DPT_TEST(test_symlink_target_replaced_link_kept),
                                          DPT_TEST(test_dangling_link_chain_creates_its_target),
                                          DPT_TEST(test_fifo_written_through_and_kept),
                                          DPT_TEST(test_refused_kinds_and_lengths), DPT_TEST_END};
  static const dpt_test_case messages[] = {DPT_TEST(test_long_message_keeps_its_reason),
                                           DPT_TEST(test_message_over_512_bytes_intact),
                                           DPT_TEST(test_msg_fit_short_words_cut_at_end),
                                           DPT_TEST_END};
  int rc = dpt_test_add_suite("out_target", targets);
  return rc ? rc : dpt_test_add_suite("messages", messages);
}
