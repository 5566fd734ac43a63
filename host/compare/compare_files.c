#include "host/compare/compare_files.h"

#include <stdio.h>
#include <string.h>

#include "dpt/ps.h"
#include "host/cli/cli.h"
#include "host/compare/charts.h"

static const char *const tables[] = {"compare.csv", "compare.md"};
static const char *const run_exts[] = {"json", "csv"};
static const char *const chart_exts[] = {"dat", "gp", "png"};
enum { N_TABLES = 2, N_RUN_EXTS = 2, N_CHART_EXTS = 3 };

void dpt_compare_run_file(char *buf, size_t size, const char *strategy, int staleness, int workers,
                          const char *ext)
{
  if (staleness == 0) snprintf(buf, size, "run-%s-w%d.%s", strategy, workers, ext);
  else
    snprintf(buf, size, "run-%s-s%s-w%d.%s", strategy, dpt_ps_staleness_text(staleness).text,
             workers, ext);
}

static bool is_one_of(const char *name, size_t len, const char *const *names, int n)
{
  for (int i = 0; i < n; i++)
    if (strlen(names[i]) == len && strncmp(names[i], name, len) == 0) return true;
  return false;
}

/* "w<digits>.<json|csv>", the first len characters of name. */
static bool is_workers_and_ext(const char *name, size_t len)
{
  if (len < 2 || name[0] != 'w') return false;
  size_t digits = strspn(name + 1, "0123456789");
  if (digits == 0 || digits + 2 >= len || name[1 + digits] != '.') return false;
  return is_one_of(name + 2 + digits, len - 2 - digits, run_exts, N_RUN_EXTS);
}

/* The length of the staleness at the start of s as dpt_compare_run_file writes one: "inf" or
 * digits without a leading zero (staleness 0 is never in a name); 0 where there is none. */
static size_t staleness_len(const char *s, size_t len)
{
  if (len >= 3 && strncmp(s, "inf", 3) == 0) return 3;
  if (len == 0 || s[0] < '1' || s[0] > '9') return 0;
  size_t n = strspn(s, "0123456789");
  return n < len ? n : len;
}

/* "s<staleness>-w<digits>.<json|csv>", the first len characters of name. */
static bool is_staleness_and_workers(const char *name, size_t len)
{
  if (len < 2 || name[0] != 's') return false;
  size_t n = staleness_len(name + 1, len - 1);
  return n > 0 && n + 2 < len && name[1 + n] == '-' &&
         is_workers_and_ext(name + 2 + n, len - 2 - n);
}

/* "run-<strategy>-w<digits>.<json|csv>", and for ps also "run-ps-s<staleness>-w<digits>.<ext>",
 * the first len characters of name. */
static bool is_run_file(const char *name, size_t len)
{
  for (int s = 0; dpt_cli_strategy_names[s]; s++) {
    const char *strategy = dpt_cli_strategy_names[s];
    char prefix[64];
    size_t n = (size_t)snprintf(prefix, sizeof prefix, "run-%s-", strategy);
    if (len <= n || strncmp(name, prefix, n) != 0) continue;
    bool ps = strcmp(strategy, dpt_strategy_name(DPT_STRATEGY_PS)) == 0;
    if (is_workers_and_ext(name + n, len - n) ||
        (ps && is_staleness_and_workers(name + n, len - n)))
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

void dpt_compare_files_of(const dpt_compare_plan *plan, double target_acc, bool drawn,
                          dpt_compare_files *out)
{
  char name[sizeof out->name[0]];
  out->n = 0;
  for (int t = 0; t < N_TABLES; t++) add(out, tables[t]);
  for (int i = 0; i < plan->n; i++)
    for (int e = 0; e < N_RUN_EXTS; e++) {
      const dpt_compare_run_spec *r = &plan->run[i];
      dpt_compare_run_file(name, sizeof name, dpt_strategy_name(r->strategy), r->staleness,
                           r->workers, run_exts[e]);
      add(out, name);
    }
  for (int c = 0; dpt_chart_name(c); c++)
    for (int e = 0; e < N_CHART_EXTS && dpt_chart_wanted(c, plan->staleness_values, target_acc);
         e++) {
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
