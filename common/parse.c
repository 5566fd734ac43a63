#include "dpt/parse.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* strtol and friends skip leading white space and stop at trailing white space: a value with
 * blanks around it is refused rather than trimmed, so what was typed is what is used. */
static int refuse_blanks(const char *opt, const char *s, dpt_err *err)
{
  size_t len = strlen(s);
  if (len == 0 || (!isspace((unsigned char)s[0]) && !isspace((unsigned char)s[len - 1])))
    return DPT_OK;
  return dpt_err_set(err, DPT_EINPUT, "%s '%s': leading or trailing blanks", opt, s);
}

int dpt_parse_int(const char *opt, const char *s, long min, long max, int *out, dpt_err *err)
{
  if (refuse_blanks(opt, s, err)) return DPT_EINPUT;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || *end)
    return dpt_err_set(err, DPT_EINPUT, "%s '%s': not a whole number", opt, s);
  if (errno == ERANGE || v < min || v > max)
    return dpt_err_set(err, DPT_EINPUT, "%s %s: must be between %ld and %ld", opt, s, min, max);
  *out = (int)v;
  return DPT_OK;
}

int dpt_parse_u64(const char *opt, const char *s, uint64_t *out, dpt_err *err)
{
  if (refuse_blanks(opt, s, err)) return DPT_EINPUT;
  /* strtoull takes "-1" for 2^64 - 1. */
  if (s[0] == '-')
    return dpt_err_set(err, DPT_EINPUT, "%s %s: must not be negative (0 to %llu)", opt, s,
                       (unsigned long long)UINT64_MAX);
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s || *end || errno == ERANGE)
    return dpt_err_set(err, DPT_EINPUT, "%s '%s': not a whole number from 0 to %llu", opt, s,
                       (unsigned long long)UINT64_MAX);
  *out = (uint64_t)v;
  return DPT_OK;
}

int dpt_parse_double(const char *opt, const char *s, double min, bool min_open, double max,
                     double *out, dpt_err *err)
{
  if (refuse_blanks(opt, s, err)) return DPT_EINPUT;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end || !isfinite(v))
    return dpt_err_set(err, DPT_EINPUT, "%s '%s': not a finite number", opt, s);
  /* ERANGE: the decimal is beyond a double's range, or so close to 0 that it loses digits. */
  if (errno == ERANGE)
    return dpt_err_set(err, DPT_EINPUT, "%s %s: %s", opt, s,
                       fabs(v) > 1 ? "too large for a double" : "too close to 0 for a double");
  if (v < min || (min_open && v == min) || v > max)
    return dpt_err_set(err, DPT_EINPUT, "%s %s: must be %s %g and <= %g", opt, s,
                       min_open ? ">" : ">=", min, max);
  *out = v;
  return DPT_OK;
}

int dpt_parse_float(const char *opt, const char *s, double min, bool min_open, double max,
                    float *out, dpt_err *err)
{
  double v = 0;
  int rc = dpt_parse_double(opt, s, min, min_open, max, &v, err);
  if (rc) return rc;
  float f = (float)v;
  /* The range was checked on the double: a float rounding to its bound stays the bound. */
  if (!isfinite(f))
    return dpt_err_set(err, DPT_EINPUT, "%s %s: too large for a float (at most %g)", opt, s,
                       (double)FLT_MAX);
  if (f == 0.f && v != 0)
    return dpt_err_set(err, DPT_EINPUT,
                       "%s %s: becomes 0 as a float (the smallest positive float is %g)", opt, s,
                       (double)FLT_TRUE_MIN);
  *out = f;
  return DPT_OK;
}

/* Splits s at commas and hands each item with its index to parse_item; at most max_items. */
typedef int (*item_parser)(const char *opt, const char *item, int index, const void *arg,
                           void *items, dpt_err *err);

static int parse_list(const char *opt, const char *s, int max_items, item_parser parse_item,
                      const void *arg, void *items, int *n_items, dpt_err *err)
{
  int n = 0;
  const char *p = s;
  for (;;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    char item[32];
    if (len == 0 || len >= sizeof item)
      return dpt_err_set(err, DPT_EINPUT, "%s '%s': item %d is %s (expected items separated by "
                         "commas)", opt, s, n + 1, len ? "too long" : "empty");
    if (n == max_items)
      return dpt_err_set(err, DPT_EINPUT, "%s '%s': at most %d items", opt, s, max_items);
    memcpy(item, p, len);
    item[len] = '\0';
    int rc = parse_item(opt, item, n, arg, items, err);
    if (rc) return rc;
    n++;
    if (!comma) break;
    p = comma + 1;
  }
  *n_items = n;
  return DPT_OK;
}

int dpt_parse_int_or_word(const char *opt, const char *s, long min, long max,
                          const char *max_word, int *out, dpt_err *err)
{
  if (max_word && strcmp(s, max_word) == 0) {
    *out = INT32_MAX;
    return DPT_OK;
  }
  int rc = dpt_parse_int(opt, s, min, max, out, err);
  if (rc && max_word) { /* say the word is a value too */
    dpt_err why = *err;
    dpt_err_clear(err); /* the first error stands otherwise */
    rc = dpt_err_set(err, rc, "%.*s, or %s", DPT_ERR_MSG_MAX - 16, why.msg, max_word);
  }
  return rc;
}

typedef struct int_range {
  long min, max;
  const char *max_word;
} int_range;

static int int_item(const char *opt, const char *item, int index, const void *range, void *items,
                    dpt_err *err)
{
  const int_range *r = range;
  return dpt_parse_int_or_word(opt, item, r->min, r->max, r->max_word, (int *)items + index, err);
}

int dpt_parse_int_list(const char *opt, const char *s, long min, long max, const char *max_word,
                       int max_items, int *items, int *n_items, dpt_err *err)
{
  int_range range = {min, max, max_word};
  return parse_list(opt, s, max_items, int_item, &range, items, n_items, err);
}

static int choice_item(const char *opt, const char *item, int index, const void *names,
                       void *items, dpt_err *err)
{
  return dpt_parse_choice(opt, item, names, (int *)items + index, err);
}

int dpt_parse_choice_list(const char *opt, const char *s, const char *const *names,
                          int max_items, int *items, int *n_items, dpt_err *err)
{
  return parse_list(opt, s, max_items, choice_item, names, items, n_items, err);
}

int dpt_parse_choice(const char *opt, const char *s, const char *const *names, int *out,
                     dpt_err *err)
{
  char choices[256] = "";
  for (int i = 0; names[i]; i++) {
    if (strcmp(s, names[i]) == 0) {
      *out = i;
      return DPT_OK;
    }
    size_t len = strlen(choices);
    snprintf(choices + len, sizeof choices - len, "%s%s", i ? ", " : "", names[i]);
  }
  return dpt_err_set(err, DPT_EINPUT, "%s '%s': must be one of %s", opt, s, choices);
}
