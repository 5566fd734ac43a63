/* Wait fraction and time to target accuracy against staleness, in the manner of Li et al.'s
 * OSDI'14 Fig. 13: the x axis is the ps runs' staleness values in ascending order (inf last), one
 * line per worker count, and each allreduce run, to which staleness does not apply, a dotted level
 * line of its worker count's colour across the axis. */
#include <math.h>
#include <string.h>

#include "dpt/ps.h"
#include "host/compare/chart_parts.h"
#include "host/compare/compare.h"

/* What the chart shows of one run; NAN where there is nothing to show (target not reached). */
typedef struct figure {
  const char *file;   /* the .dat the script reads */
  const char *column; /* its name in the .dat's header */
  double (*of)(const chart_input *in, const dpt_compared_run *run);
} figure;

static double wait_fraction_of(const chart_input *in, const dpt_compared_run *run)
{
  (void)in;
  return run->result.wait_fraction;
}

static double time_to_target_of(const chart_input *in, const dpt_compared_run *run)
{
  return dpt_compare_time_to_target(run, in->target_acc);
}

static const figure wait_figure = {"wait_fraction.dat", "wait_fraction", wait_fraction_of};
static const figure target_figure = {"time_to_target.dat", "time_to_target_s", time_to_target_of};

enum { MAX_VALUES = DPT_COMPARE_MAX_WORKERS + DPT_COMPARE_MAX_STALENESS };

/* The distinct values of a run field, in run order (workers) or ascending (staleness); values
 * past MAX_VALUES, which no compare makes, are left out. */
typedef struct values {
  int n;
  int v[MAX_VALUES];
} values;

static bool has(const values *s, int v)
{
  for (int i = 0; i < s->n; i++)
    if (s->v[i] == v) return true;
  return false;
}

static void worker_counts(const chart_input *in, values *out)
{
  out->n = 0;
  for (int i = 0; i < in->n; i++)
    if (out->n < MAX_VALUES && !has(out, in->runs[i].result.workers))
      out->v[out->n++] = in->runs[i].result.workers;
}

/* The ps runs' staleness values, ascending: DPT_PS_STALENESS_INF, the largest int, comes last. */
static void staleness_axis(const chart_input *in, values *out)
{
  out->n = 0;
  for (int i = 0; i < in->n; i++) {
    const dpt_result *r = &in->runs[i].result;
    if (!dpt_compare_is_ps(r) || out->n == MAX_VALUES || has(out, r->staleness)) continue;
    int at = out->n++;
    for (; at > 0 && out->v[at - 1] > r->staleness; at--) out->v[at] = out->v[at - 1];
    out->v[at] = r->staleness;
  }
}

/* The run of that kind (ps or allreduce), staleness (ps only) and worker count; NULL: none. */
static const dpt_compared_run *find(const chart_input *in, bool ps, int staleness, int workers)
{
  for (int i = 0; i < in->n; i++) {
    const dpt_result *r = &in->runs[i].result;
    if (dpt_compare_is_ps(r) == ps && r->workers == workers && (!ps || r->staleness == staleness))
      return &in->runs[i];
  }
  return NULL;
}

static void write_value(FILE *f, double v)
{
  if (isnan(v)) fputs("NaN\n", f);
  else fprintf(f, "%.4g\n", v);
}

/* Blocks 0 .. workers-1: ps per worker count, one row per staleness; then one block per allreduce
 * run: its level at both ends of the axis. */
static void staleness_data(FILE *f, const chart_input *in, const figure *fig)
{
  values workers, axis;
  worker_counts(in, &workers);
  staleness_axis(in, &axis);
  bool first = true;
  for (int w = 0; w < workers.n; w++) {
    fprintf(f, "%s# ps, %d worker%s\n# x staleness %s\n", first ? "" : "\n\n", workers.v[w],
            workers.v[w] == 1 ? "" : "s", fig->column);
    first = false;
    for (int s = 0; s < axis.n; s++) {
      const dpt_compared_run *run = find(in, true, axis.v[s], workers.v[w]);
      fprintf(f, "%d %s ", s, dpt_ps_staleness_text(axis.v[s]).text);
      write_value(f, run ? fig->of(in, run) : NAN);
    }
  }
  for (int w = 0; w < workers.n; w++) {
    const dpt_compared_run *run = find(in, false, 0, workers.v[w]);
    if (!run) continue;
    fprintf(f, "\n\n# %s, %d worker%s (reference: staleness does not apply)\n# x staleness %s\n",
            run->result.strategy, workers.v[w], workers.v[w] == 1 ? "" : "s", fig->column);
    for (int end = 0; end < 2; end++) {
      fprintf(f, "%g - ", end ? axis.n - 0.75 : -0.25);
      write_value(f, fig->of(in, run));
    }
  }
}

/* Whether the series of that kind and worker count has a figure to draw. */
static bool drawable(const chart_input *in, const figure *fig, bool ps, int workers,
                     const values *axis)
{
  for (int s = 0; s < (ps ? axis->n : 1); s++) {
    const dpt_compared_run *run = find(in, ps, ps ? axis->v[s] : 0, workers);
    if (run && !isnan(fig->of(in, run))) return true;
  }
  return false;
}

static double top_figure(const chart_input *in, const figure *fig)
{
  double top = 0;
  for (int i = 0; i < in->n; i++) {
    double v = fig->of(in, &in->runs[i]);
    if (!isnan(v)) top = fmax(top, v);
  }
  return top;
}

/* One plot element: a series with no figure (the target never reached) is drawn as NaN, so its
 * key entry says so and gnuplot has no empty data block to warn about. */
static void plot_series(FILE *f, const chart_input *in, const figure *fig, bool ps, int workers,
                        int block, int color, const values *axis, int *elements)
{
  char title[64];
  dpt_compare_label(ps ? "ps" : "allreduce", 0, workers, title, sizeof title);
  bool some = drawable(in, fig, ps, workers, axis);
  fputs((*elements)++ ? ", \\\n  " : "plot ", f);
  if (some) fprintf(f, "\"%s\" index %d using 1:3", fig->file, block);
  else fputs("NaN", f);
  if (ps)
    fprintf(f, " with linespoints lw 2 ps 1.3 dt 2 pt 5 lc rgb \"%s\" title \"%s%s\"",
            dpt_chart_color(color), title, some ? "" : " (not reached)");
  else
    fprintf(f, " with lines lw 1.5 dt 3 lc rgb \"%s\" title \"%s%s\"", dpt_chart_color(color),
            title, some ? "" : " (not reached)");
}

static void staleness_plot(FILE *f, const chart_input *in, const figure *fig, const char *ylabel)
{
  values workers, axis;
  worker_counts(in, &workers);
  staleness_axis(in, &axis);
  fputs("set xtics (", f);
  for (int s = 0; s < axis.n; s++)
    fprintf(f, "%s\"%s\" %d", s ? ", " : "", dpt_ps_staleness_text(axis.v[s]).text, s);
  double top = top_figure(in, fig);
  fprintf(f, ")\n"
             "set xrange [-0.5:%g]\n"
             "set yrange [0:%g]\n"
             "set xlabel \"staleness S of the parameter server "
             "(0 synchronous, inf asynchronous)\"\n"
             "set ylabel \"%s\"\n"
             "set key outside right top box opaque reverse Left\n"
             "set datafile missing \"NaN\"\n",
          axis.n - 0.5, top > 0 ? top * DPT_CHART_HEADROOM : 1, ylabel);
  int elements = 0;
  for (int w = 0; w < workers.n; w++)
    plot_series(f, in, fig, true, workers.v[w], w, w, &axis, &elements);
  int block = workers.n;
  for (int w = 0; w < workers.n; w++)
    if (find(in, false, 0, workers.v[w]))
      plot_series(f, in, fig, false, workers.v[w], block++, w, &axis, &elements);
  fputc('\n', f);
}

static bool staleness_swept(const chart_input *in) { return in->staleness_values >= 2; }

static bool swept_with_target(const chart_input *in)
{
  return staleness_swept(in) && in->target_acc > 0;
}

static void wait_fraction_data(FILE *f, const chart_input *in)
{
  fputs("# wait fraction: wait / (compute + comm + wait), mean over workers\n", f);
  staleness_data(f, in, &wait_figure);
}

static void wait_fraction_plot(FILE *f, const chart_input *in)
{
  staleness_plot(f, in, &wait_figure,
                 "wait fraction: wait / (compute + comm + wait), mean over workers");
}

static void time_to_target_data(FILE *f, const chart_input *in)
{
  fprintf(f, "# wall time (s) to test accuracy %g; NaN: not reached\n", in->target_acc);
  staleness_data(f, in, &target_figure);
}

static void time_to_target_plot(FILE *f, const chart_input *in)
{
  char ylabel[96];
  snprintf(ylabel, sizeof ylabel, "wall time to test accuracy %g (s)", in->target_acc);
  staleness_plot(f, in, &target_figure, ylabel);
}

const chart dpt_chart_wait_fraction = {"wait_fraction", "Wait fraction against staleness",
                                       wait_fraction_data, wait_fraction_plot, staleness_swept};
const chart dpt_chart_time_to_target = {"time_to_target",
                                        "Time to the target accuracy against staleness",
                                        time_to_target_data, time_to_target_plot,
                                        swept_with_target};
