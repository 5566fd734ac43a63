#include "host/compare/out_dir.h"

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
    return DPT_OK;
  }
  if (mkdir(dir, 0777) != 0)
    return dpt_err_set(err, DPT_EINPUT, "--out %s: cannot create the folder: %s", dir,
                       strerror(errno));
  *created = true;
  return DPT_OK;
}
