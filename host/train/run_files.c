#define _XOPEN_SOURCE 700 /* realpath */
#include "host/train/run_files.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dpt/data.h"
#include "dpt/out_target.h"

enum { OUTPUTS = 4, MAX_FILES = OUTPUTS + 1 + DPT_DATA_FILES };

typedef struct file_id {
  bool known;  /* false: an input that does not exist (its reader refuses it later) */
  bool exists; /* false: an output not created yet, known by path */
  dev_t dev;
  ino_t ino;
  char path[PATH_MAX + NAME_MAX + 2]; /* its folder's real path and its name */
} file_id;

typedef struct run_file {
  const char *opt;  /* "--report", ..., "--resume", "--data" */
  const char *path; /* for the data set, the file's path in the folder */
  bool output;
  file_id id;
} run_file;

static bool is_stdout(const char *path) { return path && strcmp(path, "-") == 0; }

/* Where an output's bytes would go, which must be writable now. */
static int output_id(const char *opt, const char *path, file_id *id, dpt_err *err)
{
  if (is_stdout(path) && strcmp(opt, "--report") != 0 && strcmp(opt, "--metrics") != 0)
    return dpt_err_set(err, DPT_EINPUT, "%s -: only --report and --metrics write to standard "
                       "output", opt);
  dpt_out_target t;
  int rc = dpt_out_target_resolve(opt, path, &t, err);
  if (!rc) rc = dpt_out_target_check_writable(opt, path, &t, err);
  if (rc) return rc;
  struct stat st;
  id->known = true;
  id->exists = t.kind == DPT_OUT_STDOUT ? fstat(STDOUT_FILENO, &st) == 0 : stat(t.file, &st) == 0;
  if (id->exists) {
    id->dev = st.st_dev;
    id->ino = st.st_ino;
    return DPT_OK;
  }
  char folder[PATH_MAX], name[PATH_MAX], real[PATH_MAX];
  snprintf(folder, sizeof folder, "%s", t.file);
  snprintf(name, sizeof name, "%s", t.file);
  if (!realpath(dirname(folder), real))
    return dpt_err_set(err, DPT_EINPUT, "%s %s: cannot resolve its folder: %s", opt, path,
                       strerror(errno));
  snprintf(id->path, sizeof id->path, "%s/%s", real, basename(name));
  return DPT_OK;
}

static void input_id(const char *path, file_id *id)
{
  struct stat st;
  id->known = id->exists = stat(path, &st) == 0;
  if (!id->known) return;
  id->dev = st.st_dev;
  id->ino = st.st_ino;
}

static bool same_file(const file_id *a, const file_id *b)
{
  if (!a->known || !b->known || a->exists != b->exists) return false;
  return a->exists ? a->dev == b->dev && a->ino == b->ino : strcmp(a->path, b->path) == 0;
}

static bool is_opt(const run_file *f, const char *opt) { return strcmp(f->opt, opt) == 0; }

/* --resume X --checkpoint X: continuing a run in place. */
static bool continues_in_place(const run_file *a, const run_file *b)
{
  return (is_opt(a, "--checkpoint") && is_opt(b, "--resume")) ||
         (is_opt(a, "--resume") && is_opt(b, "--checkpoint"));
}

static int check_pairs(const run_file *files, int n, dpt_err *err)
{
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++) {
      const run_file *a = &files[i], *b = &files[j];
      if ((!a->output && !b->output) || !same_file(&a->id, &b->id) || continues_in_place(a, b))
        continue;
      if (a->output && b->output)
        return dpt_err_set(err, DPT_EINPUT, "%s %s and %s %s are the same file: each output "
                           "needs a file of its own", a->opt, a->path, b->opt, b->path);
      const run_file *out = a->output ? a : b, *in = a->output ? b : a;
      return dpt_err_set(err, DPT_EINPUT, "%s %s is the same file as %s %s: an output may not "
                         "overwrite an input of the run", out->opt, out->path, in->opt, in->path);
    }
  return DPT_OK;
}

int dpt_run_files_check(const dpt_config *cfg, dpt_err *err)
{
  const char *const opts[OUTPUTS] = {"--report", "--metrics", "--trace", "--checkpoint"};
  const char *const paths[OUTPUTS] = {cfg->report_path, cfg->metrics_path, cfg->trace_path,
                                      cfg->checkpoint_path};
  run_file *files = calloc(MAX_FILES, sizeof *files);
  char *data[DPT_DATA_FILES] = {0};
  if (!files) return dpt_err_set(err, DPT_ENOMEM, "output files: out of memory");
  int n = 0, rc = DPT_OK;
  for (int i = 0; i < OUTPUTS && !rc; i++)
    if (paths[i]) {
      files[n] = (run_file){.opt = opts[i], .path = paths[i], .output = true};
      rc = output_id(opts[i], paths[i], &files[n++].id, err);
    }
  if (!rc && cfg->resume_path) {
    files[n] = (run_file){.opt = "--resume", .path = cfg->resume_path};
    input_id(cfg->resume_path, &files[n++].id);
  }
  if (!rc) rc = dpt_data_dir_files(cfg->data_dir, data, err);
  for (int i = 0; i < DPT_DATA_FILES && !rc; i++) {
    files[n] = (run_file){.opt = "--data", .path = data[i]};
    input_id(data[i], &files[n++].id);
  }
  if (!rc) rc = check_pairs(files, n, err);
  for (int i = 0; i < DPT_DATA_FILES; i++) free(data[i]);
  free(files);
  return rc;
}

bool dpt_run_files_take_stdout(const dpt_config *cfg)
{
  return is_stdout(cfg->report_path) || is_stdout(cfg->metrics_path);
}
