#define _XOPEN_SOURCE 700 /* realpath */
#include "dpt/out_target.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MAX_LINKS = 40 }; /* the kernel's own limit for one lookup */

/* Every message starts with "OPT PATH: " or "PATH: ". */
#define AT "%s%s%s: "
#define AT_ARGS(opt, path) (opt) ? (opt) : "", (opt) ? " " : "", (path)

static int check_lengths(const char *opt, const char *path, const char *checked, dpt_err *err)
{
  size_t len = strlen(checked);
  if (len >= PATH_MAX)
    return dpt_err_set(err, DPT_EINPUT, AT "the path%s%s is %zu bytes; the system allows %d",
                       AT_ARGS(opt, path), checked == path ? "" : " it leads to ",
                       checked == path ? "" : checked, len, PATH_MAX - 1);
  for (const char *p = checked + strspn(checked, "/"); *p; p += strspn(p, "/")) {
    size_t n = strcspn(p, "/");
    if (n > NAME_MAX)
      return dpt_err_set(err, DPT_EINPUT, AT "the name '%.*s' is %zu bytes; the system allows %d",
                         AT_ARGS(opt, path), (int)n, p, n, NAME_MAX);
    p += n;
  }
  return DPT_OK;
}

/* path does not exist but may be a symbolic link (a chain) to a name that does not exist yet:
 * that name, which the write creates, goes to out. */
static int follow_links(const char *opt, const char *path, char *out, dpt_err *err)
{
  snprintf(out, PATH_MAX, "%s", path);
  for (int hops = 0;; hops++) {
    struct stat st;
    if (lstat(out, &st) != 0 || !S_ISLNK(st.st_mode)) return DPT_OK;
    if (hops == MAX_LINKS)
      return dpt_err_set(err, DPT_EINPUT, AT "more than %d symbolic links in a row",
                         AT_ARGS(opt, path), MAX_LINKS);
    char target[PATH_MAX], folder[PATH_MAX], next[2 * PATH_MAX];
    ssize_t n = readlink(out, target, sizeof target);
    if (n < 0 || n == (ssize_t)sizeof target)
      return dpt_err_set(err, DPT_EINPUT, AT "cannot read the link %s: %s", AT_ARGS(opt, path),
                         out, n < 0 ? strerror(errno) : "its target is too long");
    target[n] = '\0';
    snprintf(folder, sizeof folder, "%s", out);
    if (target[0] == '/') snprintf(next, sizeof next, "%s", target);
    else snprintf(next, sizeof next, "%s/%s", dirname(folder), target);
    int rc = check_lengths(opt, path, next, err);
    if (rc) return rc;
    memcpy(out, next, strlen(next) + 1); /* shorter than PATH_MAX: checked */
  }
}

static const char *kind_name(mode_t mode)
{
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISBLK(mode)) return "a block device";
  return "neither a file, a FIFO nor a character device";
}

/* "<file>.tmp.<host>.<pid>": one name per process of a host, found again by atomic_file's cleanup
 * of killed saves. Its name must fit the system's limits as well as the file's. */
static int name_temporary(const char *opt, const char *path, dpt_out_target *t, dpt_err *err)
{
  char host[256] = "", suffix[sizeof host + 32], copy[PATH_MAX];
  gethostname(host, sizeof host - 1); /* on failure "": still one name per host in practice */
  host[strcspn(host, "/")] = '\0';   /* a file name cannot hold it */
  int suffix_len = snprintf(suffix, sizeof suffix, ".tmp.%s.%ld", host, (long)getpid());
  snprintf(copy, sizeof copy, "%s", t->file);
  size_t name_len = strlen(basename(copy));
  if (name_len + (size_t)suffix_len > NAME_MAX)
    return dpt_err_set(err, DPT_EINPUT,
                       AT "the file name is %zu bytes; at most %d fit with the temporary file's "
                       "suffix '%s' (the system allows %d)",
                       AT_ARGS(opt, path), name_len, NAME_MAX - suffix_len, suffix, NAME_MAX);
  if (strlen(t->file) + (size_t)suffix_len >= PATH_MAX)
    return dpt_err_set(err, DPT_EINPUT,
                       AT "the path is %zu bytes; at most %d fit with the temporary file's "
                       "suffix '%s' (the system allows %d)",
                       AT_ARGS(opt, path), strlen(t->file), PATH_MAX - 1 - suffix_len, suffix,
                       PATH_MAX - 1);
  size_t len = strlen(t->file); /* with the suffix shorter than PATH_MAX: checked */
  memcpy(t->tmp, t->file, len);
  memcpy(t->tmp + len, suffix, (size_t)suffix_len + 1);
  return DPT_OK;
}

int dpt_out_target_resolve(const char *opt, const char *path, dpt_out_target *t, dpt_err *err)
{
  t->tmp[0] = '\0';
  if (strcmp(path, "-") == 0) {
    t->kind = DPT_OUT_STDOUT;
    snprintf(t->file, sizeof t->file, "-");
    return DPT_OK;
  }
  if (!path[0]) return dpt_err_set(err, DPT_EINPUT, "%s: empty file name", opt ? opt : "output");
  int rc = check_lengths(opt, path, path, err);
  if (rc) return rc;
  struct stat st;
  if (stat(path, &st) == 0) {
    if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
      t->kind = DPT_OUT_THROUGH;
      snprintf(t->file, sizeof t->file, "%s", path);
      return DPT_OK;
    }
    if (!S_ISREG(st.st_mode))
      return dpt_err_set(err, DPT_EINPUT, AT "is %s: outputs go to files, FIFOs and character "
                         "devices only", AT_ARGS(opt, path), kind_name(st.st_mode));
    struct stat link;
    if (lstat(path, &link) == 0 && !S_ISLNK(link.st_mode))
      snprintf(t->file, sizeof t->file, "%s", path);
    else if (!realpath(path, t->file))
      return dpt_err_set(err, DPT_EINPUT, AT "cannot follow the link: %s", AT_ARGS(opt, path),
                         strerror(errno));
  } else if (errno == ENOENT) {
    if ((rc = follow_links(opt, path, t->file, err))) return rc;
  } else {
    return dpt_err_set(err, DPT_EINPUT, AT "cannot use it: %s", AT_ARGS(opt, path),
                       strerror(errno));
  }
  t->kind = DPT_OUT_REPLACE;
  return name_temporary(opt, path, t, err);
}

int dpt_out_target_check_writable(const char *opt, const char *path, const dpt_out_target *t,
                                  dpt_err *err)
{
  if (t->kind == DPT_OUT_STDOUT) {
    int flags = fcntl(STDOUT_FILENO, F_GETFL);
    if (flags < 0 || (flags & O_ACCMODE) == O_RDONLY)
      return dpt_err_set(err, DPT_EINPUT, "%s -: standard output is not open for writing",
                         opt ? opt : "output");
    return DPT_OK;
  }
  if (t->kind == DPT_OUT_THROUGH) {
    if (access(t->file, W_OK) != 0)
      return dpt_err_set(err, DPT_EINPUT, AT "not writable: %s", AT_ARGS(opt, path),
                         strerror(errno));
    return DPT_OK;
  }
  char copy[PATH_MAX];
  snprintf(copy, sizeof copy, "%s", t->file);
  const char *dir = dirname(copy);
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return dpt_err_set(err, DPT_EINPUT, AT "folder '%s' does not exist", AT_ARGS(opt, path), dir);
  /* access() would pass a read-only file system, and /proc for root: only creating tells. */
  int fd = open(t->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno != EEXIST)
    return dpt_err_set(err, DPT_EINPUT, AT "folder '%s' is not writable: %s", AT_ARGS(opt, path),
                       dir, strerror(errno));
  if (fd >= 0) {
    close(fd);
    unlink(t->tmp);
  }
  return DPT_OK;
}
