#include "host/compare/charts.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dpt/atomic_file.h"
#include "dpt/cores.h"
#include "host/compare/chart_parts.h"
#include "host/compare/spawn.h"

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

/* Same strategy and staleness: one series of runs over the worker counts. */
static bool same_series(const dpt_result *a, const dpt_result *b)
{
  return strcmp(a->strategy, b->strategy) == 0 && a->staleness == b->staleness;
}

/* Distinct worker counts before run i's: its colour wherever colour means the worker count. */
static int workers_rank(const dpt_compared_run *runs, int i)
{
  int rank = 0, first = first_like(runs, i, same_workers);
  for (int j = 0; j < first; j++) rank += first_like(runs, j, same_workers) == j;
  return rank;
}

/* allreduce circles; ps squares, and with each further staleness another shape. */
static int point_type(const dpt_compared_run *runs, int i)
{
  static const int ps_points[] = {5, 9, 11, 13, 15, 4, 6, 8};
  if (!dpt_compare_is_ps(&runs[i].result)) return 7;
  int rank = 0, first = first_like(runs, i, same_series);
  for (int j = 0; j < first; j++)
    rank += dpt_compare_is_ps(&runs[j].result) && first_like(runs, j, same_series) == j;
  return ps_points[rank % (int)(sizeof ps_points / sizeof ps_points[0])];
}

static void series_name(const dpt_result *r, char *buf, size_t size)
{
  dpt_compare_series(r->strategy, r->staleness, buf, size);
}

static void run_label(const dpt_result *r, char *buf, size_t size)
{
  dpt_compare_label(r->strategy, r->staleness, r->workers, buf, size);
}

/* --- test accuracy against wall time: one block of (elapsed, accuracy) per run ------------- */

static void accuracy_data(FILE *f, const chart_input *in)
{
  for (int i = 0; i < in->n; i++) {
    const dpt_compared_run *run = &in->runs[i];
    char title[64];
    run_label(&run->result, title, sizeof title);
    fprintf(f, "%s# %s\n# elapsed_s test_accuracy\n", i ? "\n\n" : "", title);
    for (int e = 0; e < run->n_epochs; e++)
      fprintf(f, "%.6g %.4f\n", run->epoch_elapsed_s[e], run->epoch_test_acc[e]);
  }
}

/* Ranges from the figures, so that equal accuracies (or instant runs) still span the chart. */
static void accuracy_ranges(FILE *f, const chart_input *in)
{
  double last_s = 0, lo = in->target_acc > 0 ? in->target_acc : 1, hi = in->target_acc;
  for (int i = 0; i < in->n; i++)
    for (int e = 0; e < in->runs[i].n_epochs; e++) {
      last_s = fmax(last_s, in->runs[i].epoch_elapsed_s[e]);
      lo = fmin(lo, in->runs[i].epoch_test_acc[e]);
      hi = fmax(hi, in->runs[i].epoch_test_acc[e]);
    }
  double span = fmax(hi - lo, 0.02);
  fprintf(f, "set xrange [0:%g]\nset yrange [%g:%g]\n", last_s > 0 ? last_s * 1.05 : 1,
          fmax(0, lo - 0.1 * span), fmin(1, hi + 0.1 * span));
}

static void accuracy_plot(FILE *f, const chart_input *in)
{
  fputs("set xlabel \"wall time since training started (s)\"\n"
        "set ylabel \"test accuracy\"\n"
        "set key outside right top box opaque reverse Left\n",
        f);
  accuracy_ranges(f, in);
  fputs("plot \\\n", f);
  for (int i = 0; i < in->n; i++) {
    const dpt_result *r = &in->runs[i].result;
    char title[64];
    run_label(r, title, sizeof title);
    /* allreduce solid, ps dashed, a shape per series (point_type); colour by worker count. */
    fprintf(f, "  \"accuracy.dat\" index %d using 1:2 with linespoints lw 2 ps 1.3 lc rgb \"%s\" "
               "dt %d pt %d title \"%s\"%s\n",
            i, dpt_chart_color(workers_rank(in->runs, i)), dpt_compare_is_ps(r) ? 2 : 1,
            point_type(in->runs, i), title, i + 1 < in->n || in->target_acc > 0 ? ", \\" : "");
  }
  if (in->target_acc > 0)
    fprintf(f, "  %g with lines lw 1.5 dt 3 lc rgb \"#404040\" title \"target %g\"\n",
            in->target_acc, in->target_acc);
}

/* --- throughput against workers: one block of (workers, samples/s, best) per series --------- */

/* The best throughput run i could reach, from its series' 1-worker run: linear in the workers
 * while each has a device of its own (GPUs), but on the CPU only as far as the cores the 1-worker
 * run left idle allow: its BLAS threads already use every core, so there the best is its rate. */
static double best_throughput(const chart_input *in, int i)
{
  const dpt_result *r = &in->runs[i].result;
  int b = dpt_compare_baseline(in->runs, in->n, i);
  if (b < 0) return NAN;
  const dpt_result *base = &in->runs[b].result;
  if (strcmp(r->device, "cpu") != 0) return base->train_samples_per_sec * r->workers;
  double room = base->blas_threads > 0 ? fmax(1, (double)in->cores / base->blas_threads) : 1;
  return base->train_samples_per_sec * fmin(r->workers, room);
}

static void throughput_data(FILE *f, const chart_input *in)
{
  bool first_block = true;
  for (int s = 0; s < in->n; s++) {
    if (first_like(in->runs, s, same_series) != s) continue;
    char name[48];
    series_name(&in->runs[s].result, name, sizeof name);
    fprintf(f, "%s# %s\n# workers samples_per_sec best_possible\n", first_block ? "" : "\n\n",
            name);
    first_block = false;
    for (int i = 0; i < in->n; i++) {
      const dpt_result *r = &in->runs[i].result;
      if (!same_series(r, &in->runs[s].result)) continue;
      double best = best_throughput(in, i);
      fprintf(f, "%d %.1f ", r->workers, r->train_samples_per_sec);
      if (isnan(best)) fputs("NaN\n", f);
      else fprintf(f, "%.1f\n", best);
    }
  }
}

static void throughput_plot(FILE *f, const chart_input *in)
{
  const dpt_compared_run *runs = in->runs;
  int min_workers = runs[0].result.workers, max_workers = min_workers;
  double top = 0;
  bool cpu = strcmp(runs[0].result.device, "cpu") == 0;
  fputs("set xtics (", f);
  for (int i = 0; i < in->n; i++) {
    int w = runs[i].result.workers;
    double best = best_throughput(in, i);
    top = fmax(top, fmax(runs[i].result.train_samples_per_sec, isnan(best) ? 0 : best));
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
          min_workers - 0.5, max_workers + 0.5, top > 0 ? top * DPT_CHART_HEADROOM : 1);
  char best_title[64];
  if (cpu) snprintf(best_title, sizeof best_title, "best possible on %d cores", in->cores);
  else snprintf(best_title, sizeof best_title, "ideal linear scaling");
  int block = 0;
  for (int s = 0; s < in->n; s++) {
    if (first_like(runs, s, same_series) != s) continue;
    char name[48];
    series_name(&runs[s].result, name, sizeof name);
    fprintf(f, "%s  \"throughput.dat\" index %d using 1:2 with linespoints lw 2 ps 1.3 "
               "lc rgb \"%s\" pt %d title \"%s\", \\\n"
               "  \"throughput.dat\" index %d using 1:3 with lines lw 1.5 dt 3 lc rgb \"%s\" "
               "title \"%s, %s\"",
            block ? ", \\\n" : "", block, dpt_chart_color(block), point_type(runs, s), name,
            block, dpt_chart_color(block), name, best_title);
    block++;
  }
  fputc('\n', f);
}

/* --- step time split: one row (label, compute, comm, and wait in ms per step) per run --------- */

/* Wait is a worker blocked in the exchange: in allreduce for the slowest worker; in ps for the
 * server's round, which ends only after every push and the server's sum and step. Two columns,
 * one per strategy, so that each bar says what it measured. */
static double ms_per_step(const dpt_result *r, double seconds)
{
  return r->steps > 0 ? seconds * 1e3 / (double)r->steps : 0;
}

static void step_time_data(FILE *f, const chart_input *in)
{
  fputs("# run compute_ms comm_ms wait_for_workers_ms wait_for_server_ms (per step, mean over "
        "workers)\n",
        f);
  for (int i = 0; i < in->n; i++) {
    const dpt_result *r = &in->runs[i].result;
    double wait = ms_per_step(r, r->time_wait_s);
    bool ps = dpt_compare_is_ps(r);
    char name[48];
    series_name(r, name, sizeof name);
    fprintf(f, "\"%s\\n%d worker%s\" %.3f %.3f %.3f %.3f\n", name, r->workers,
            r->workers == 1 ? "" : "s", ms_per_step(r, r->time_compute_s),
            ms_per_step(r, r->time_comm_s), ps ? 0 : wait, ps ? wait : 0);
  }
}

static void step_time_plot(FILE *f, const chart_input *in)
{
  double top = 0;
  bool any_ps = false, any_allreduce = false, any_stale = false;
  for (int i = 0; i < in->n; i++) {
    const dpt_result *r = &in->runs[i].result;
    top = fmax(top, ms_per_step(r, r->time_compute_s + r->time_comm_s + r->time_wait_s));
    any_ps |= dpt_compare_is_ps(r);
    any_allreduce |= !dpt_compare_is_ps(r);
    any_stale |= dpt_compare_is_ps(r) && r->staleness > 0;
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
             "  \"\" using 3 lc rgb \"%s\" title \"communication (copies and sums)\"",
          top > 0 ? top * DPT_CHART_HEADROOM : 1, in->n > 8 ? "set xtics rotate by -30\n" : "",
          dpt_chart_color(0), dpt_chart_color(1));
  if (any_allreduce)
    fprintf(f, ", \\\n  \"\" using 4 lc rgb \"%s\" "
               "title \"allreduce: wait for the slowest worker\"",
            dpt_chart_color(3));
  if (any_ps)
    fprintf(f, ", \\\n  \"\" using 5 lc rgb \"%s\" title \"ps: wait for the server's round %s\"",
            dpt_chart_color(4),
            any_stale ? "(S=0), or for the slowest worker to come within S (S >= 1)"
                      : "(every push, its sum and step)");
  fputc('\n', f);
}

static const chart accuracy = {"accuracy", "Test accuracy against wall time", accuracy_data,
                                accuracy_plot, NULL};
static const chart throughput = {"throughput", "Training throughput against workers",
                                  throughput_data, throughput_plot, NULL};
static const chart step_time = {"step_time", "Step time split per run (mean over workers)",
                                 step_time_data, step_time_plot, NULL};
static const chart *const charts[] = {&accuracy, &throughput, &step_time,
                                      &dpt_chart_wait_fraction, &dpt_chart_time_to_target};
enum { N_CHARTS = sizeof charts / sizeof charts[0] };

const char *dpt_chart_name(int i) { return i >= 0 && i < N_CHARTS ? charts[i]->name : NULL; }

static bool wanted(const chart *c, const chart_input *in) { return !c->wanted || c->wanted(in); }

bool dpt_chart_wanted(int i, int staleness_values, double target_acc)
{
  chart_input in = {.target_acc = target_acc, .staleness_values = staleness_values};
  return i >= 0 && i < N_CHARTS && wanted(charts[i], &in);
}

/* The script draws into $out, by default NAME.png, so a person can rerun it as it is. */
static void write_script(FILE *f, const chart *c, const chart_input *in)
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
  c->write_plot(f, in);
}

static void write_data(FILE *f, const chart *c, const chart_input *in) { c->write_data(f, in); }

static int write_file(const char *dir, const chart *c, const char *ext,
                      void (*body)(FILE *, const chart *, const chart_input *),
                      const chart_input *in, dpt_err *err)
{
  char path[4200];
  snprintf(path, sizeof path, "%s/%s.%s", dir, c->name, ext);
  dpt_atomic_file af;
  int rc = dpt_atomic_open(&af, path, err);
  if (rc) return rc;
  body(af.f, c, in);
  return dpt_atomic_commit(&af, err);
}

/* gnuplot runs inside dir and is given only names we made, never the folder's path; what it
 * prints goes to log_fd (DPT_CHARTS_LOG). */
static int render(const char *dir, const char *gnuplot, const chart *c, int log_fd, dpt_err *err)
{
  char tmp_name[128], out_arg[160], script[128], tmp_path[4200], png_path[4200];
  snprintf(tmp_name, sizeof tmp_name, "%s.png.tmp.%ld", c->name, (long)getpid());
  snprintf(out_arg, sizeof out_arg, "out=\"%s\"", tmp_name);
  snprintf(script, sizeof script, "%s.gp", c->name);
  snprintf(tmp_path, sizeof tmp_path, "%s/%s", dir, tmp_name);
  snprintf(png_path, sizeof png_path, "%s/%s.png", dir, c->name);
  char *argv[] = {"gnuplot", "-e", out_arg, script, NULL};
  dpt_err why = {0};
  int rc = dpt_run_program_in(dir, gnuplot, argv, log_fd, &why);
  if (rc) dpt_err_set(err, rc, "%s (its output: %s/%s)", why.msg, dir, DPT_CHARTS_LOG);
  /* Copied, not renamed: a link at png_path stays a link, a FIFO a FIFO (dpt/out_target.h). */
  else rc = dpt_atomic_copy_from(png_path, tmp_path, err);
  remove(tmp_path);
  return rc;
}

static int render_all(const char *dir, const char *gnuplot, const chart_input *in, dpt_err *err)
{
  char log_path[4200];
  snprintf(log_path, sizeof log_path, "%s/%s", dir, DPT_CHARTS_LOG);
  int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (log_fd < 0)
    return dpt_err_set(err, DPT_EIO, "%s: cannot write: %s", log_path, strerror(errno));
  int rc = DPT_OK;
  for (int i = 0; i < N_CHARTS && !rc; i++)
    if (wanted(charts[i], in)) rc = render(dir, gnuplot, charts[i], log_fd, err);
  close(log_fd);
  return rc;
}

int dpt_charts_make(const char *dir, const dpt_compared_run *runs, int n, double target_acc,
                    int staleness_values, bool *drawn, dpt_err *err)
{
  chart_input in = {.runs = runs, .n = n, .target_acc = target_acc, .cores = dpt_cores_online(),
                    .staleness_values = staleness_values};
  for (int i = 0; i < N_CHARTS; i++) {
    if (!wanted(charts[i], &in)) continue;
    int rc = write_file(dir, charts[i], "dat", write_data, &in, err);
    if (!rc) rc = write_file(dir, charts[i], "gp", write_script, &in, err);
    if (rc) return rc;
  }
  char gnuplot[4096];
  *drawn = dpt_find_program("gnuplot", gnuplot, sizeof gnuplot);
  return *drawn ? render_all(dir, gnuplot, &in, err) : DPT_OK;
}
