/* Strict parsers for option values: the whole string must be the value, within range, with no
 * blanks before or after it, and the value must survive the conversion to its type (no negative
 * number for an unsigned one, no nonzero decimal that becomes 0 or infinity as a float or double);
 * errors are DPT_EINPUT lines naming the option and the value ("--batch 0: must be between 1 and
 * 65536", "--lr 1e-50: becomes 0 as a float"). */
#ifndef DPT_PARSE_H
#define DPT_PARSE_H

#include <stdbool.h>
#include <stdint.h>

#include "dpt/status.h"

int dpt_parse_int(const char *opt, const char *s, long min, long max, int *out, dpt_err *err);
int dpt_parse_u64(const char *opt, const char *s, uint64_t *out, dpt_err *err);
/* A finite number in [min, max]; min_open excludes min itself (e.g. lr > 0). */
int dpt_parse_float(const char *opt, const char *s, double min, bool min_open, double max,
                    float *out, dpt_err *err);
int dpt_parse_double(const char *opt, const char *s, double min, bool min_open, double max,
                     double *out, dpt_err *err);
/* An int in [min, max], or max_word (NULL: none; e.g. "inf"), which stands for INT32_MAX. */
int dpt_parse_int_or_word(const char *opt, const char *s, long min, long max,
                          const char *max_word, int *out, dpt_err *err);
/* A comma-separated list of ints in [min, max] or max_word (as dpt_parse_int_or_word), at most
 * max_items ("512,256", "0,4,inf"). A malformed item is named by its value or its position. */
int dpt_parse_int_list(const char *opt, const char *s, long min, long max, const char *max_word,
                       int max_items, int *items, int *n_items, dpt_err *err);
/* A comma-separated list of names, each turned into its index in names ("allreduce,ps"). */
int dpt_parse_choice_list(const char *opt, const char *s, const char *const *names,
                          int max_items, int *items, int *n_items, dpt_err *err);
/* The index of s in the NULL-terminated names, or an error listing the choices. */
int dpt_parse_choice(const char *opt, const char *s, const char *const *names, int *out,
                     dpt_err *err);

#endif
