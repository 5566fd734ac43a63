#include "dpt/number_text.h"

#include <math.h>
#include <stdio.h>

/* `non_finite` spells NaN, +inf and -inf, in that order. */
static const char *number_text(char *buf, size_t size, double v, int decimals,
                               const char *const non_finite[3])
{
  if (isnan(v)) snprintf(buf, size, "%s", non_finite[0]);
  else if (isinf(v)) snprintf(buf, size, "%s", non_finite[v > 0 ? 1 : 2]);
  else if (decimals < 0) snprintf(buf, size, "%g", v);
  else snprintf(buf, size, "%.*f", decimals, v);
  return buf;
}

const char *dpt_json_number(char *buf, size_t size, double v, int decimals)
{
  static const char *const json[3] = {"null", "null", "null"};
  return number_text(buf, size, v, decimals, json);
}

const char *dpt_csv_number(char *buf, size_t size, double v, int decimals)
{
  static const char *const csv[3] = {"nan", "inf", "-inf"};
  return number_text(buf, size, v, decimals, csv);
}
