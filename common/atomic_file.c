#include "dpt/atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Whether `digits` is all decimal digits naming a process that no longer exists here. */
static bool names_dead_process(const char *digits)
{
  char *end;
  errno = 0;
  long pid = strtol(digits, &end, 10);
  if (*digits == '\0' || *end != '\0' || errno || pid <= 0 || (pid_t)pid != pid) return false;
  return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* A save killed midway (SIGKILL, power loss) leaves its temporary file: removes those of the
 * target that processes of this host left and that have ended. Another host's may still be
 * writing. Their names are this process's temporary name with another pid. */
static void remove_stale_temps(const dpt_out_target *t)
{
  char dir_copy[PATH_MAX], prefix[PATH_MAX];
  snprintf(dir_copy, sizeof dir_copy, "%s", t->file);
  snprintf(prefix, sizeof prefix, "%s", t->tmp);
  char *name = basename(prefix);
  char *pid = strrchr(name, '.');
  size_t len = pid ? (size_t)(pid + 1 - name) : 0;
  DIR *dir = len ? opendir(dirname(dir_copy)) : NULL;
  if (!dir) return; /* a folder we cannot list: its leftovers stay, as before */
  for (struct dirent *e; (e = readdir(dir)) != NULL;)
    if (strncmp(e->d_name, name, len) == 0 && names_dead_process(e->d_name + len))
      unlinkat(dirfd(dir), e->d_name, 0);
  closedir(dir);
}

/* A FIFO or a device, opened as it is: no O_CREAT, no O_TRUNC. A FIFO's open waits for a reader. */
static FILE *open_through(const char *file)
{
  int fd = open(file, O_WRONLY | O_NOCTTY | O_CLOEXEC);
  FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
  if (fd >= 0 && !f) close(fd);
  return f;
}

int dpt_atomic_open(dpt_atomic_file *af, const char *path, dpt_err *err)
{
  af->f = NULL;
  snprintf(af->path, sizeof af->path, "%s", path);
  dpt_out_target *t = &af->target;
  int rc = dpt_out_target_resolve(NULL, path, t, err);
  if (rc) return rc;
  if (t->kind == DPT_OUT_STDOUT) af->f = stdout;
  if (t->kind == DPT_OUT_THROUGH) af->f = open_through(t->file);
  if (t->kind == DPT_OUT_REPLACE) {
    remove_stale_temps(t);
    af->f = fopen(t->tmp, "wb");
  }
  if (!af->f) return dpt_err_set(err, DPT_EINPUT, "%s: cannot write: %s", path, strerror(errno));
  return DPT_OK;
}

/* The rename is durable only once the folder holding the file is synced too. Some file systems
 * cannot sync a folder (EINVAL): nothing more can be done there, so that is not an error. */
static int sync_folder(const char *path)
{
  char copy[PATH_MAX];
  snprintf(copy, sizeof copy, "%s", path);
  int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return -1;
  int rc = fsync(fd) != 0 && errno != EINVAL ? -1 : 0;
  int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

/* Standard output stays open for what else the program prints. */
static int finish_stream(dpt_atomic_file *af, dpt_err *err)
{
  int failed = fflush(af->f) != 0 || ferror(af->f);
  int saved = errno;
  if (af->target.kind == DPT_OUT_THROUGH && fclose(af->f) != 0 && !failed) {
    failed = 1;
    saved = errno;
  }
  af->f = NULL;
  if (failed) return dpt_err_set(err, DPT_EIO, "%s: cannot write: %s", af->path, strerror(saved));
  return DPT_OK;
}

int dpt_atomic_commit(dpt_atomic_file *af, dpt_err *err)
{
  if (af->target.kind != DPT_OUT_REPLACE) return finish_stream(af, err);
  const char *file = af->target.file, *tmp = af->target.tmp;
  int failed = fflush(af->f) != 0 || ferror(af->f) || fsync(fileno(af->f)) != 0;
  int saved = errno;
  if (fclose(af->f) != 0 && !failed) {
    failed = 1;
    saved = errno;
  }
  af->f = NULL;
  if (!failed && rename(tmp, file) != 0) {
    failed = 1;
    saved = errno;
  }
  if (!failed && sync_folder(file) != 0)
    return dpt_err_set(err, DPT_EIO, "%s: written, but syncing its folder failed: %s", af->path,
                       strerror(errno));
  if (!failed) return DPT_OK;
  remove(tmp);
  return dpt_err_set(err, DPT_EIO, "%s: cannot write: %s", af->path, strerror(saved));
}

void dpt_atomic_discard(dpt_atomic_file *af)
{
  if (af->target.kind != DPT_OUT_REPLACE) {
    if (af->f) fflush(af->f);
    if (af->f && af->target.kind == DPT_OUT_THROUGH) fclose(af->f);
    af->f = NULL;
    return;
  }
  if (af->f) fclose(af->f);
  af->f = NULL;
  remove(af->target.tmp);
}

int dpt_atomic_copy_from(const char *path, const char *src, dpt_err *err)
{
  FILE *in = fopen(src, "rb");
  if (!in) return dpt_err_set(err, DPT_EIO, "%s: cannot read: %s", src, strerror(errno));
  dpt_atomic_file af;
  int rc = dpt_atomic_open(&af, path, err);
  char buf[65536];
  for (size_t n; !rc && (n = fread(buf, 1, sizeof buf, in)) > 0;)
    if (fwrite(buf, 1, n, af.f) != n)
      rc = dpt_err_set(err, DPT_EIO, "%s: cannot write: %s", path, strerror(errno));
  if (!rc && ferror(in)) rc = dpt_err_set(err, DPT_EIO, "%s: cannot read: %s", src, strerror(errno));
  fclose(in);
  if (rc) {
    if (af.f) dpt_atomic_discard(&af);
    return rc;
  }
  return dpt_atomic_commit(&af, err);
}
