#include "host/compare/compare_files.h"

#include <stdio.h>
#include <string.h>

#include "host/cli/cli.h"
#include "host/compare/charts.h"

static const char *const tables[] = {"compare.csv", "compare.md"};
static const char *const run_exts[] = {"json", "csv"};
static const char *const chart_exts[] = {"dat", "gp", "png"};
enum { N_TABLES = 2, N_RUN_EXTS = 2, N_CHART_EXTS = 3 };

void dpt_compare_run_file(char *buf, size_t size, const char *strategy, int workers,
                          const char *ext)
{
  snprintf(buf, size, "run-%s-w%d.%s", strategy, workers, ext);
}

static bool is_one_of(const char *name, size_t len, const char *const *names, int n)
{
  for (int i = 0; i < n; i++)
    if (strlen(names[i]) == len && strncmp(names[i], name, len) == 0) return true;
  return false;
}

/* "run-<strategy>-w<digits>.<json|csv>", the first len characters of name. */
static bool is_run_file(const char *name, size_t len)
{
  for (int s = 0; dpt_cli_strategy_names[s]; s++) {
    char prefix[64];
    int n = snprintf(prefix, sizeof prefix, "run-%s-w", dpt_cli_strategy_names[s]);
    if (len <= (size_t)n || strncmp(name, prefix, (size_t)n) != 0) continue;
    size_t digits = strspn(name + n, "0123456789");
    const char *ext = name + n + digits;
    size_t ext_len = len - (size_t)n - digits;
    if (digits > 0 && ext[0] == '.' && is_one_of(ext + 1, ext_len - 1, run_exts, N_RUN_EXTS))
      return true;
  }
  return false;
}

/* "<chart>.<dat|gp|png>", the first len characters of name. */
static bool is_chart_file(const char *name, size_t len)
{
  for (int c = 0; dpt_chart_name(c); c++) {
    size_t n = strlen(dpt_chart_name(c));
    if (len > n + 1 && strncmp(name, dpt_chart_name(c), n) == 0 && name[n] == '.' &&
        is_one_of(name + n + 1, len - n - 1, chart_exts, N_CHART_EXTS))
      return true;
  }
  return false;
}

bool dpt_compare_owns(const char *name)
{
  const char *tmp = strstr(name, ".tmp."); /* an atomic write's temporary file */
  size_t len = tmp ? (size_t)(tmp - name) : strlen(name);
  static const char *const log[] = {DPT_CHARTS_LOG};
  return is_one_of(name, len, tables, N_TABLES) || is_one_of(name, len, log, 1) ||
         is_run_file(name, len) || is_chart_file(name, len);
}

static void add(dpt_compare_files *files, const char *name)
{
  if (files->n < DPT_COMPARE_MAX_FILES)
    snprintf(files->name[files->n++], sizeof files->name[0], "%s", name);
}

void dpt_compare_files_of(const dpt_compare_options *o, bool drawn, dpt_compare_files *out)
{
  char name[sizeof out->name[0]];
  out->n = 0;
  for (int t = 0; t < N_TABLES; t++) add(out, tables[t]);
  for (int s = 0; s < o->n_strategies; s++)
    for (int w = 0; w < o->n_workers; w++)
      for (int e = 0; e < N_RUN_EXTS; e++) {
        dpt_compare_run_file(name, sizeof name, dpt_strategy_name((dpt_strategy)o->strategies[s]),
                             o->workers[w], run_exts[e]);
        add(out, name);
      }
  for (int c = 0; dpt_chart_name(c); c++)
    for (int e = 0; e < N_CHART_EXTS; e++) {
      if (!drawn && strcmp(chart_exts[e], "png") == 0) continue;
      snprintf(name, sizeof name, "%s.%s", dpt_chart_name(c), chart_exts[e]);
      add(out, name);
    }
  if (drawn) add(out, DPT_CHARTS_LOG);
}

bool dpt_compare_files_has(const dpt_compare_files *files, const char *name)
{
  for (int i = 0; i < files->n; i++)
    if (strcmp(files->name[i], name) == 0) return true;
  return false;
}
