/* The charts of `dptrain compare`, in the output folder: test accuracy against wall time per run
 * (accuracy), throughput against workers per strategy and staleness (throughput), each run's step
 * time split into compute, communication and wait (step_time), and where the ps runs sweep
 * staleness, wait fraction (wait_fraction) and time to --target-acc (time_to_target) against
 * staleness. Each is a data file (NAME.dat) and a gnuplot
 * script (NAME.gp) that draws it, so `gnuplot NAME.gp` in the folder redraws NAME.png. */
#ifndef DPT_HOST_COMPARE_CHARTS_H
#define DPT_HOST_COMPARE_CHARTS_H

#include <stdbool.h>

#include "host/compare/compare_table.h"

/* What gnuplot printed while drawing (warnings, errors), in the output folder. */
#define DPT_CHARTS_LOG "gnuplot.log"

/* The i-th chart's name, NULL past the last. */
const char *dpt_chart_name(int i);
/* Whether a compare draws the i-th chart: the staleness charts need the ps runs to sweep two or
 * more staleness values (staleness_values), the time-to-target one also a target_acc > 0. */
bool dpt_chart_wanted(int i, int staleness_values, double target_acc);

/* Writes every wanted chart's .dat and .gp; then, where gnuplot is on PATH, draws each NAME.png
 * (*drawn true) with its output in DPT_CHARTS_LOG. target_acc > 0 is drawn on the accuracy chart.
 * A failing gnuplot is DPT_EIO, and leaves no partial PNG. */
int dpt_charts_make(const char *dir, const dpt_compared_run *runs, int n, double target_acc,
                    int staleness_values, bool *drawn, dpt_err *err);

#endif
