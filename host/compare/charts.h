/* The charts of `dptrain compare`, drawn by gnuplot into the output folder: test accuracy against
 * wall time per run (accuracy.png), throughput against workers per strategy (throughput.png), and
 * each run's step time split into compute, communication and wait (step_time.png). Beside each
 * PNG lie its data (.dat) and script (.gp), so `gnuplot NAME.gp` in the folder redraws it. */
#ifndef DPT_HOST_COMPARE_CHARTS_H
#define DPT_HOST_COMPARE_CHARTS_H

#include <stdbool.h>

#include "host/compare/compare_table.h"

/* *drawn is false, with DPT_OK, when gnuplot is not on PATH: nothing is written then. A failing
 * gnuplot is DPT_EIO; no partial PNG is left. */
int dpt_charts_draw(const char *dir, const dpt_compared_run *runs, int n, bool *drawn,
                    dpt_err *err);

#endif
