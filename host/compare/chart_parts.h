/* What the charts of host/compare/charts.c are made of, shared by the files that draw them
 * (charts.c, charts_staleness.c). Internal to host/compare. The colours are in chart_parts.c, so
 * that the chart files do not call each other both ways. */
#ifndef DPT_HOST_COMPARE_CHART_PARTS_H
#define DPT_HOST_COMPARE_CHART_PARTS_H

#include <stdbool.h>
#include <stdio.h>

#include "host/compare/compare_table.h"

/* What every chart is drawn from. */
typedef struct chart_input {
  const dpt_compared_run *runs;
  int n;
  double target_acc;    /* 0: none */
  int cores;            /* of this machine, which every CPU run shared */
  int staleness_values; /* how many staleness values the ps runs sweep */
} chart_input;

typedef struct chart {
  const char *name;  /* NAME.dat, NAME.gp, NAME.png */
  const char *title;
  void (*write_data)(FILE *f, const chart_input *in);
  void (*write_plot)(FILE *f, const chart_input *in);
  bool (*wanted)(const chart_input *in); /* NULL: every compare draws it */
} chart;

/* Head room above the highest figure, so the key in the top left corner covers no data. */
#define DPT_CHART_HEADROOM 1.45

/* Colour-blind-safe (Okabe-Ito), one per worker count or series (chart_parts.c). */
const char *dpt_chart_color(int i);

/* Wait fraction, and time to --target-acc, against staleness (OSDI'14 Fig. 13): one series per
 * worker count, allreduce as a reference line; drawn when the ps runs sweep two or more values. */
extern const chart dpt_chart_wait_fraction, dpt_chart_time_to_target;

#endif
