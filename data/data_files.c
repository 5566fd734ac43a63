/* data_find_file: a data set's file by its name in either spelling, or an error that shows what
 * the folder holds instead. */
#include "data/data_files.h"

#include <ctype.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The part before "idx" and the rest: "train-images" + "idx3-ubyte" is spelled with a '-' or a
 * '.' between them. */
static const char *const stems[DATA_FILES] = {"train-images", "train-labels", "t10k-images",
                                              "t10k-labels"};
static const char *const kinds[DATA_FILES] = {"idx3-ubyte", "idx1-ubyte", "idx3-ubyte",
                                              "idx1-ubyte"};
/* Names listed in the error, at most; the message stays one line of reasonable length. */
#define MAX_SIMILAR 4

static bool exists(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0;
}

/* Folds case and treats '_' and '.' as '-', so that "Train_Images.idx3" looks like the stem. */
static int fold(unsigned char c) { return c == '_' || c == '.' ? '-' : tolower(c); }

static bool looks_like(const char *name, const char *stem)
{
  for (; *stem; stem++, name++)
    if (!*name || fold((unsigned char)*name) != fold((unsigned char)*stem)) return false;
  return true;
}

/* Appends "a, b, c" (entries of dir that look like stem) to buf; how many were found. */
static int list_similar(const char *dir, const char *stem, char *buf, size_t size)
{
  DIR *d = opendir(dir);
  if (!d) return 0;
  int found = 0;
  size_t len = strlen(buf);
  for (struct dirent *e; (e = readdir(d));) {
    if (!looks_like(e->d_name, stem)) continue;
    if (found++ >= MAX_SIMILAR) continue;
    int n = snprintf(buf + len, size - len, "%s%s", found > 1 ? ", " : "", e->d_name);
    if (n > 0) len = len + (size_t)n < size ? len + (size_t)n : size - 1;
  }
  closedir(d);
  /* One line: a name holding a control character must not break it. */
  for (char *c = buf; *c; c++)
    if (iscntrl((unsigned char)*c)) *c = '?';
  return found;
}

static int refuse_missing(const char *dir, int which, dpt_err *err)
{
  char similar[512] = "";
  int found = list_similar(dir, stems[which], similar, sizeof similar);
  char more[32] = "";
  if (found > MAX_SIMILAR) snprintf(more, sizeof more, " and %d more", found - MAX_SIMILAR);
  if (!found) snprintf(similar, sizeof similar, "none");
  return dpt_err_set(err, DPT_EINPUT,
                     "%s: missing %s-%s (also looked for %s.%s, each raw or .gz); similar files "
                     "here: %s%s", dir, stems[which], kinds[which], stems[which], kinds[which],
                     similar, more);
}

int data_find_file(const char *dir, int which, char **path, dpt_err *err)
{
  size_t len = strlen(dir) + 1 + strlen(stems[which]) + 1 + strlen(kinds[which]) + sizeof ".gz";
  char *p = malloc(len);
  if (!p) return dpt_err_set(err, DPT_ENOMEM, "%s: out of memory", dir);
  static const char separators[] = "-.";
  for (int s = 0; s < 2; s++)
    for (int gz = 1; gz >= 0; gz--) {
      snprintf(p, len, "%s/%s%c%s%s", dir, stems[which], separators[s], kinds[which],
               gz ? ".gz" : "");
      if (exists(p)) {
        *path = p;
        return DPT_OK;
      }
    }
  free(p);
  return refuse_missing(dir, which, err);
}
