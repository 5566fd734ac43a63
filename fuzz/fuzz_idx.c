/* libFuzzer target for the IDX reader: each input becomes a file, which dpt_idx_read must either
 * accept or refuse with a message that names it. Anything else (a crash, a leak, undefined
 * behaviour, a nameless error) is a finding. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dpt/data.h"

static char path[4096];

static void remove_input_file(void) { unlink(path); }

/* One temporary file per fuzzing process, rewritten for every input. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  const char *dir = getenv("TMPDIR");
  snprintf(path, sizeof path, "%s/fuzz_idx-XXXXXX", dir && dir[0] ? dir : "/tmp");
  int fd = mkstemp(path);
  if (fd < 0) {
    perror("fuzz_idx: mkstemp");
    abort();
  }
  close(fd);
  atexit(remove_input_file);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) abort();
  dpt_idx idx;
  dpt_err err = {0};
  int rc = dpt_idx_read(path, &idx, &err);
  if (rc == DPT_OK) {
    /* An accepted file holds exactly the samples its header promises. */
    if (idx.count == 0 || idx.features == 0 || !idx.data || idx.count != idx.dims[0]) abort();
    dpt_idx_free(&idx);
  } else if (err.code != rc || strncmp(err.msg, path, strlen(path)) != 0 || idx.data) {
    abort();
  }
  return 0;
}
