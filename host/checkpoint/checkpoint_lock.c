#include "host/checkpoint/checkpoint_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
  HOLDER_MAX = 300, /* "pid host\n" */
  ATTEMPTS = 8      /* lock files removed under us by runs that ended meanwhile */
};

/* "pid 123 on vm, " from the holder's lock file, or "" while it has not written it yet. */
static void holder_text(int fd, char *buf, size_t size)
{
  char text[HOLDER_MAX] = "";
  ssize_t n = pread(fd, text, sizeof text - 1, 0);
  long pid = 0;
  char host[HOLDER_MAX] = "";
  buf[0] = '\0';
  if (n > 0 && sscanf(text, "%ld %255s", &pid, host) == 2)
    snprintf(buf, size, "pid %ld on %s, ", pid, host);
}

static int refuse(const char *checkpoint_path, const char *lock_path, int fd, dpt_err *err)
{
  char holder[HOLDER_MAX + 32];
  holder_text(fd, holder, sizeof holder);
  return dpt_err_set(err, DPT_EINPUT,
                     "--checkpoint %s: another dptrain run is using it (%slock file %s): wait "
                     "for it to end, or give this run another --checkpoint",
                     checkpoint_path, holder, lock_path);
}

static void write_holder(int fd)
{
  char host[256] = "?", text[HOLDER_MAX];
  gethostname(host, sizeof host - 1);
  int len = snprintf(text, sizeof text, "%ld %s\n", (long)getpid(), host);
  if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)len, 0) != len) {
    /* Only the message of a refused run misses it: the lock holds without it. */
  }
}

/* Whether fd is still the file at path: a run that ends removes its lock file, and one that
 * opened it just before holds a lock nobody else will see. */
static int still_there(int fd, const char *path)
{
  struct stat held, named;
  return fstat(fd, &held) == 0 && stat(path, &named) == 0 && held.st_dev == named.st_dev &&
         held.st_ino == named.st_ino;
}

int dpt_checkpoint_lock_take(const char *checkpoint_path, dpt_checkpoint_lock *lock,
                             dpt_err *err)
{
  *lock = (dpt_checkpoint_lock){.fd = -1};
  size_t len = strlen(checkpoint_path) + sizeof ".lock";
  lock->path = malloc(len);
  if (!lock->path) return dpt_err_set(err, DPT_ENOMEM, "--checkpoint: out of memory");
  snprintf(lock->path, len, "%s.lock", checkpoint_path);
  int why = 0, rc = DPT_OK;
  for (int attempt = 0; attempt < ATTEMPTS && !why; attempt++) {
    int fd = open(lock->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      why = errno;
    } else if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      why = errno;
      if (why == EWOULDBLOCK) rc = refuse(checkpoint_path, lock->path, fd, err);
    } else if (still_there(fd, lock->path)) {
      lock->fd = fd;
      write_holder(fd);
      return DPT_OK;
    }
    if (fd >= 0) close(fd);
  }
  if (!rc)
    rc = dpt_err_set(err, DPT_EIO, "--checkpoint %s: cannot lock %s: %s", checkpoint_path,
                     lock->path, why ? strerror(why) : "runs ending meanwhile keep removing it");
  free(lock->path);
  lock->path = NULL;
  return rc;
}

void dpt_checkpoint_lock_release(dpt_checkpoint_lock *lock)
{
  if (lock->fd >= 0) {
    unlink(lock->path); /* before unlocking: whoever locks this file afterwards sees it gone */
    close(lock->fd);
  }
  free(lock->path);
  *lock = (dpt_checkpoint_lock){.fd = -1};
}
