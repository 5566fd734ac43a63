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

enum { HOST_NAME = 256 };

/* Whether `digits` is all decimal digits naming a process that no longer exists here. */
static bool names_dead_process(const char *digits)
{
  char *end;
  errno = 0;
  long pid = strtol(digits, &end, 10);
  if (*digits == '\0' || *end != '\0' || errno || pid <= 0 || (pid_t)pid != pid) return false;
  return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* A save killed midway (SIGKILL, power loss) leaves its temporary file: removes those of path
 * that processes of this host left and that have ended. Another host's may still be writing. */
static void remove_stale_temps(const char *path, const char *host)
{
  char dir_copy[4096], base_copy[4096], prefix[4096 + HOST_NAME + 8];
  snprintf(dir_copy, sizeof dir_copy, "%s", path);
  snprintf(base_copy, sizeof base_copy, "%s", path);
  int len = snprintf(prefix, sizeof prefix, "%s.tmp.%s.", basename(base_copy), host);
  DIR *dir = opendir(dirname(dir_copy));
  if (!dir || len < 0 || (size_t)len >= sizeof prefix) {
    if (dir) closedir(dir);
    return; /* a folder we cannot list: its leftovers stay, as before */
  }
  for (struct dirent *e; (e = readdir(dir)) != NULL;)
    if (strncmp(e->d_name, prefix, (size_t)len) == 0 && names_dead_process(e->d_name + len))
      unlinkat(dirfd(dir), e->d_name, 0);
  closedir(dir);
}

int dpt_atomic_open(dpt_atomic_file *af, const char *path, dpt_err *err)
{
  char host[HOST_NAME] = "";
  gethostname(host, sizeof host - 1); /* on failure "": still one name per host in practice */
  host[strcspn(host, "/")] = '\0';   /* a file name cannot hold it */
  remove_stale_temps(path, host);
  snprintf(af->path, sizeof af->path, "%s", path);
  snprintf(af->tmp, sizeof af->tmp, "%s.tmp.%s.%ld", path, host, (long)getpid());
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
