#include "host/compare/out_dir.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void default_name(char *dir, size_t size)
{
  time_t now = time(NULL);
  struct tm local;
  localtime_r(&now, &local);
  strftime(dir, size, "compare-%Y%m%d-%H%M%S", &local);
}

/* Refuses a folder holding any file that no compare writes. */
static int check_only_compare_files(const char *dir, dpt_err *err)
{
  DIR *d = opendir(dir);
  if (!d) return dpt_err_set(err, DPT_EINPUT, "--out %s: cannot list the folder: %s", dir,
                             strerror(errno));
  int rc = DPT_OK;
  for (struct dirent *e; !rc && (e = readdir(d)) != NULL;) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || dpt_compare_owns(e->d_name))
      continue;
    rc = dpt_err_set(err, DPT_EINPUT,
                     "--out %s: holds '%s', which compare does not write: give a new or empty "
                     "folder, or an earlier compare's",
                     dir, e->d_name);
  }
  closedir(d);
  return rc;
}

int dpt_out_dir_prepare(const char *requested, char *dir, size_t size, bool *created,
                        dpt_err *err)
{
  *created = false;
  if (requested && !requested[0]) return dpt_err_set(err, DPT_EINPUT, "--out: empty folder name");
  if (requested && strlen(requested) >= size)
    return dpt_err_set(err, DPT_EINPUT, "--out %.64s...: path too long", requested);
  if (requested) snprintf(dir, size, "%s", requested);
  else default_name(dir, size);
  struct stat st;
  if (stat(dir, &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      return dpt_err_set(err, DPT_EINPUT, "--out %s: exists and is not a folder", dir);
    if (access(dir, W_OK) != 0)
      return dpt_err_set(err, DPT_EINPUT, "--out %s: folder is not writable", dir);
    return check_only_compare_files(dir, err);
  }
  if (mkdir(dir, 0777) != 0)
    return dpt_err_set(err, DPT_EINPUT, "--out %s: cannot create the folder: %s", dir,
                       strerror(errno));
  *created = true;
  return DPT_OK;
}

int dpt_out_dir_remove_earlier(const char *dir, const dpt_compare_files *written, int *removed,
                               dpt_err *err)
{
  *removed = 0;
  DIR *d = opendir(dir);
  if (!d) return dpt_err_set(err, DPT_EIO, "%s: cannot list the folder: %s", dir, strerror(errno));
  int rc = DPT_OK;
  for (struct dirent *e; !rc && (e = readdir(d)) != NULL;) {
    if (!dpt_compare_owns(e->d_name) || dpt_compare_files_has(written, e->d_name)) continue;
    if (unlinkat(dirfd(d), e->d_name, 0) == 0) (*removed)++;
    else rc = dpt_err_set(err, DPT_EIO, "%s/%s: cannot remove the earlier compare's file: %s",
                          dir, e->d_name, strerror(errno));
  }
  closedir(d);
  return rc;
}
