#include "host/compare/chart_parts.h"

const char *dpt_chart_color(int i)
{
  static const char *const palette[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                                        "#CC79A7", "#56B4E9", "#F0E442", "#000000"};
  return palette[i % (int)(sizeof palette / sizeof palette[0])];
}
