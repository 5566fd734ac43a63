#include "host/compare/charts.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dpt/atomic_file.h"
#include "host/compare/spawn.h"

typedef struct chart {
  const char *name;  /* NAME.dat, NAME.gp, NAME.png */
  const char *title;
  void (*write_data)(FILE *f, const dpt_compared_run *runs, int n);
  void (*write_plot)(FILE *f, const dpt_compared_run *runs, int n);
} chart;

/* Colour-blind-safe (Okabe-Ito), one per worker count or strategy. */
static const char *color(int i)
{
  static const char *const palette[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                                        "#CC79A7", "#56B4E9", "#F0E442", "#000000"};
  return palette[i % (int)(sizeof palette / sizeof palette[0])];
}

static bool is_ps(const dpt_result *r) { return strcmp(r->strategy, "ps") == 0; }

typedef bool (*same_fn)(const dpt_result *a, const dpt_result *b);

/* Index of the first run equal to run i under `same`, so that equal runs share a colour. */
static int first_like(const dpt_compared_run *runs, int i, same_fn same)
{
  int j = 0;
  while (!same(&runs[j].result, &runs[i].result)) j++;
  return j;
}

static bool same_workers(const dpt_result *a, const dpt_result *b)
{
  return a->workers == b->workers;
}

static bool same_strategy(const dpt_result *a, const dpt_result *b)
{
  return strcmp(a->strategy, b->strategy) == 0;
}

/* Distinct worker counts before run i: its colour in the per-run charts. */
static int workers_rank(const dpt_compared_run *runs, int i)
{
  int rank = 0, first = first_like(runs, i, same_workers);
  for (int j = 0; j < first; j++) rank += first_like(runs, j, same_workers) == j;
  return rank;
}

/* --- test accuracy against wall time: one block of (elapsed, accuracy) per run ------------- */

static void accuracy_data(FILE *f, const dpt_compared_run *runs, int n)
{
  for (int i = 0; i < n; i++) {
    char title[64];
    dpt_compare_label(runs[i].result.strategy, runs[i].result.workers, title, sizeof title);
    fprintf(f, "%s# %s\n# elapsed_s test_accuracy\n", i ? "\n\n" : "", title);
    for (int e = 0; e < runs[i].n_epochs; e++)
      fprintf(f, "%.3f %.4f\n", runs[i].epoch_elapsed_s[e], runs[i].epoch_test_acc[e]);
  }
}

static void accuracy_plot(FILE *f, const dpt_compared_run *runs, int n)
{
  fputs("set xlabel \"wall time since training started (s)\"\n"
        "set ylabel \"test accuracy\"\n"
        "set key bottom right box opaque reverse Left\n"
        "set xrange [0:*]\n"
        "plot \\\n",
        f);
  for (int i = 0; i < n; i++) {
    char title[64];
    dpt_compare_label(runs[i].result.strategy, runs[i].result.workers, title, sizeof title);
    /* allreduce solid with circles, ps dashed with squares; colour by worker count. */
    bool ps = is_ps(&runs[i].result);
    fprintf(f, "  \"accuracy.dat\" index %d using 1:2 with linespoints lw 2 ps 1.3 lc rgb \"%s\" "
               "dt %d pt %d title \"%s\"%s\n",
            i, color(workers_rank(runs, i)), ps ? 2 : 1, ps ? 5 : 7, title,
            i + 1 < n ? ", \\" : "");
  }
}

/* --- throughput against workers: one block of (workers, samples/s, ideal) per strategy ------ */

/* Head room above the highest figure, so the key in the top left corner covers no data. */
#define HEADROOM 1.45

/* What run i would reach if throughput scaled linearly from its strategy's 1-worker run. */
static double ideal_throughput(const dpt_compared_run *runs, int n, int i)
{
  const dpt_result *r = &runs[i].result;
  return r->train_samples_per_sec / dpt_compare_speedup(runs, n, i) * r->workers;
}

static void throughput_data(FILE *f, const dpt_compared_run *runs, int n)
{
  bool first_block = true;
  for (int s = 0; s < n; s++) {
    if (first_like(runs, s, same_strategy) != s) continue;
    fprintf(f, "%s# %s\n# workers samples_per_sec ideal_linear_scaling\n",
            first_block ? "" : "\n\n", runs[s].result.strategy);
    first_block = false;
    for (int i = 0; i < n; i++) {
      const dpt_result *r = &runs[i].result;
      if (!same_strategy(r, &runs[s].result)) continue;
      double ideal = ideal_throughput(runs, n, i);
      fprintf(f, "%d %.1f ", r->workers, r->train_samples_per_sec);
      if (isnan(ideal)) fputs("NaN\n", f);
      else fprintf(f, "%.1f\n", ideal);
    }
  }
}

static void throughput_plot(FILE *f, const dpt_compared_run *runs, int n)
{
  int min_workers = runs[0].result.workers, max_workers = min_workers;
  double top = 0;
  fputs("set xtics (", f);
  for (int i = 0; i < n; i++) {
    int w = runs[i].result.workers;
    double ideal = ideal_throughput(runs, n, i);
    top = fmax(top, fmax(runs[i].result.train_samples_per_sec, isnan(ideal) ? 0 : ideal));
    if (first_like(runs, i, same_workers) != i) continue;
    fprintf(f, "%s%d", i ? ", " : "", w);
    if (w < min_workers) min_workers = w;
    if (w > max_workers) max_workers = w;
  }
  fprintf(f, ")\n"
             "set xrange [%g:%g]\n"
             "set yrange [0:%.0f]\n"
             "set format y \"%%.0f\"\n"
             "set xlabel \"workers (one thread per device)\"\n"
             "set ylabel \"training throughput (samples/s)\"\n"
             "set key top left box opaque reverse Left\n"
             "plot \\\n",
          min_workers - 0.5, max_workers + 0.5, top * HEADROOM);
  int block = 0;
  for (int s = 0; s < n; s++) {
    if (first_like(runs, s, same_strategy) != s) continue;
    const char *name = runs[s].result.strategy;
    bool ps = is_ps(&runs[s].result);
    fprintf(f, "%s  \"throughput.dat\" index %d using 1:2 with linespoints lw 2 ps 1.3 "
               "lc rgb \"%s\" pt %d title \"%s\", \\\n"
               "  \"throughput.dat\" index %d using 1:3 with lines lw 1.5 dt 3 lc rgb \"%s\" "
               "title \"%s, ideal linear scaling\"",
            block ? ", \\\n" : "", block, color(block), ps ? 5 : 7, name, block, color(block),
            name);
    block++;
  }
  fputc('\n', f);
}

/* --- step time split: one row (label, compute, comm, wait in ms per step) per run ----------- */

static double ms_per_step(const dpt_result *r, double seconds)
{
  return r->steps > 0 ? seconds * 1e3 / (double)r->steps : 0;
}

static void step_time_data(FILE *f, const dpt_compared_run *runs, int n)
{
  fputs("# run compute_ms comm_ms wait_ms (per step, mean over workers)\n", f);
  for (int i = 0; i < n; i++) {
    const dpt_result *r = &runs[i].result;
    fprintf(f, "\"%s\\n%d worker%s\" %.3f %.3f %.3f\n", r->strategy, r->workers,
            r->workers == 1 ? "" : "s", ms_per_step(r, r->time_compute_s),
            ms_per_step(r, r->time_comm_s), ms_per_step(r, r->time_wait_s));
  }
}

static void step_time_plot(FILE *f, const dpt_compared_run *runs, int n)
{
  double top = 0;
  for (int i = 0; i < n; i++) {
    const dpt_result *r = &runs[i].result;
    top = fmax(top, ms_per_step(r, r->time_compute_s + r->time_comm_s + r->time_wait_s));
  }
  fprintf(f, "set style data histograms\n"
             "set style histogram rowstacked\n"
             "set style fill solid 0.9 border rgb \"#333333\"\n"
             "set boxwidth 0.6\n"
             "set yrange [0:%g]\n"
             "set ylabel \"time per step (ms)\"\n"
             "set key top left box opaque reverse Left\n"
             "set grid noxtics\n"
             "set bmargin 4\n"
             "%s"
             "plot \"step_time.dat\" using 2:xtic(1) lc rgb \"%s\" "
             "title \"compute (forward + backward)\", \\\n"
             "  \"\" using 3 lc rgb \"%s\" title \"communication\", \\\n"
             "  \"\" using 4 lc rgb \"%s\" title \"wait for the slowest worker\"\n",
          top > 0 ? top * HEADROOM : 1, n > 8 ? "set xtics rotate by -30\n" : "", color(0),
          color(1), color(3));
}

static const chart charts[] = {
  {"accuracy", "Test accuracy against wall time", accuracy_data, accuracy_plot},
  {"throughput", "Training throughput against workers", throughput_data, throughput_plot},
  {"step_time", "Step time split per run (mean over workers)", step_time_data, step_time_plot},
};

/* The script draws into $out, by default NAME.png, so a person can rerun it as it is. */
static void write_script(FILE *f, const chart *c, const dpt_compared_run *runs, int n)
{
  fprintf(f, "# dptrain compare: %s. Redraw with: gnuplot %s.gp\n"
             "if (!exists(\"out\")) out = \"%s.png\"\n"
             "if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n"
             "  set terminal pngcairo size 900,560 font \"Sans,11\"\n"
             "} else {\n"
             "  set terminal png size 900,560\n"
             "}\n"
             "set output out\n"
             "set title \"%s\" font \",13\"\n"
             "set grid lc rgb \"#d0d0d0\"\n"
             "set border 3 lc rgb \"#404040\"\n"
             "set tics nomirror\n",
          c->title, c->name, c->name, c->title);
  c->write_plot(f, runs, n);
}

static int write_file(const char *dir, const char *name, const char *ext, const chart *c,
                      void (*body)(FILE *, const chart *, const dpt_compared_run *, int),
                      const dpt_compared_run *runs, int n, dpt_err *err)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext);
  dpt_atomic_file af;
  int rc = dpt_atomic_open(&af, path, err);
  if (rc) return rc;
  body(af.f, c, runs, n);
  return dpt_atomic_commit(&af, err);
}

static void data_body(FILE *f, const chart *c, const dpt_compared_run *runs, int n)
{
  c->write_data(f, runs, n);
}

/* gnuplot runs inside dir and is given only names we made, never the folder's path. */
static int draw(const char *dir, const char *gnuplot, const chart *c, const dpt_compared_run *runs,
                int n, dpt_err *err)
{
  int rc = write_file(dir, c->name, "dat", c, data_body, runs, n, err);
  if (!rc) rc = write_file(dir, c->name, "gp", c, write_script, runs, n, err);
  if (rc) return rc;
  char tmp_name[128], out_arg[160], script[128], tmp_path[4200], png_path[4200];
  snprintf(tmp_name, sizeof tmp_name, "%s.png.tmp.%ld", c->name, (long)getpid());
  snprintf(out_arg, sizeof out_arg, "out=\"%s\"", tmp_name);
  snprintf(script, sizeof script, "%s.gp", c->name);
  snprintf(tmp_path, sizeof tmp_path, "%s/%s", dir, tmp_name);
  snprintf(png_path, sizeof png_path, "%s/%s.png", dir, c->name);
  char *argv[] = {"gnuplot", "-e", out_arg, script, NULL};
  rc = dpt_run_program_in(dir, gnuplot, argv, err);
  /* Copied, not renamed: a link at png_path stays a link, a FIFO a FIFO (dpt/out_target.h). */
  if (!rc) rc = dpt_atomic_copy_from(png_path, tmp_path, err);
  remove(tmp_path);
  return rc;
}

int dpt_charts_draw(const char *dir, const dpt_compared_run *runs, int n, bool *drawn,
                    dpt_err *err)
{
  char gnuplot[4096];
  *drawn = dpt_find_program("gnuplot", gnuplot, sizeof gnuplot);
  if (!*drawn) return DPT_OK;
  for (size_t i = 0; i < sizeof charts / sizeof charts[0]; i++) {
    int rc = draw(dir, gnuplot, &charts[i], runs, n, err);
    if (rc) return rc;
  }
  return DPT_OK;
}
