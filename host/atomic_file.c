#include "host/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <unistd.h>

int dpt_atomic_open(dpt_atomic_file *af, const char *path, dpt_err *err)
{
  snprintf(af->path, sizeof af->path, "%s", path);
  snprintf(af->tmp, sizeof af->tmp, "%s.tmp.%ld", path, (long)getpid());
  af->f = fopen(af->tmp, "wb");
  if (!af->f) return dpt_err_set(err, DPT_EINPUT, "%s: cannot write: %s", path, strerror(errno));
  return DPT_OK;
}

/* The rename is durable only once the folder holding the file is synced too. Some file systems
 * cannot sync a folder (EINVAL): nothing more can be done there, so that is not an error. */
static int sync_folder(const char *path)
{
  char copy[4096]; /* the size of dpt_atomic_file.path */
  snprintf(copy, sizeof copy, "%s", path);
  int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return -1;
  int rc = fsync(fd) != 0 && errno != EINVAL ? -1 : 0;
  int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

int dpt_atomic_commit(dpt_atomic_file *af, dpt_err *err)
{
  int failed = fflush(af->f) != 0 || ferror(af->f) || fsync(fileno(af->f)) != 0;
  int saved = errno;
  if (fclose(af->f) != 0 && !failed) {
    failed = 1;
    saved = errno;
  }
  af->f = NULL;
  if (!failed && rename(af->tmp, af->path) != 0) {
    failed = 1;
    saved = errno;
  }
  if (!failed && sync_folder(af->path) != 0)
    return dpt_err_set(err, DPT_EIO, "%s: written, but syncing its folder failed: %s", af->path,
                       strerror(errno));
  if (!failed) return DPT_OK;
  remove(af->tmp);
  return dpt_err_set(err, DPT_EIO, "%s: cannot write: %s", af->path, strerror(saved));
}

void dpt_atomic_discard(dpt_atomic_file *af)
{
  if (af->f) fclose(af->f);
  af->f = NULL;
  remove(af->tmp);
}
