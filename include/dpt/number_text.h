/* Numbers in the output files (the --report JSON, the --trace JSON, the --metrics CSV), whatever
 * the run did: JSON has no NaN or infinity, so there a non-finite value is written as null; in
 * CSV it is nan, inf or -inf (the spellings spreadsheets, pandas, R and gnuplot read back as such;
 * printf would write -nan for some NaNs). A finite value is printed with `decimals` digits after
 * the point (0..17), or as %g when decimals < 0. */
#ifndef DPT_NUMBER_TEXT_H
#define DPT_NUMBER_TEXT_H

#include <stddef.h>

/* Room for any value: %.17f of -DBL_MAX is 1 + 309 + 1 + 17 characters. */
enum { DPT_NUMBER_TEXT_MAX = 336 };

/* Each writes the text into buf[0..size) and returns buf. */
const char *dpt_json_number(char *buf, size_t size, double v, int decimals);
const char *dpt_csv_number(char *buf, size_t size, double v, int decimals);

/* The text of v in a buffer that lives until the end of the enclosing block, so that several
 * fit into one printf: fprintf(f, "\"loss\": %s", DPT_JSON_NUM(loss, 6)). */
#define DPT_JSON_NUM(v, decimals) \
  dpt_json_number((char[DPT_NUMBER_TEXT_MAX]){0}, DPT_NUMBER_TEXT_MAX, (v), (decimals))
#define DPT_CSV_NUM(v, decimals) \
  dpt_csv_number((char[DPT_NUMBER_TEXT_MAX]){0}, DPT_NUMBER_TEXT_MAX, (v), (decimals))

#endif
