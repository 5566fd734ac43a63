/* --help text from the option rows (host/cli/option_table.h): "  --name VALUE" in a column of
 * its own, the help lines beside it, and the default in brackets. */
#include <string.h>

#include "host/cli/option_table.h"

enum { HELP_COLUMN = 24, HELP_WIDTH = 96 };

static bool listed(const dpt_option *row)
{
  return row->kind != DPT_OPT_ACTION && row->kind != DPT_OPT_REFUSED;
}

static void print_row(FILE *out, const dpt_option *row)
{
  char head[HELP_COLUMN * 2];
  int len = snprintf(head, sizeof head, "  --%s%s%s", row->name, row->value ? " " : "",
                     row->value ? row->value : "");
  fputs(head, out);
  /* A name too long for its column gets the help on the next line. */
  int col = len;
  if (col >= HELP_COLUMN) {
    fputc('\n', out);
    col = 0;
  }
  const char *text = row->help;
  const char *dflt = row->default_help ? row->default_help : row->default_value;
  while (text) {
    const char *nl = strchr(text, '\n');
    int n = nl ? (int)(nl - text) : (int)strlen(text);
    fprintf(out, "%*s%.*s", HELP_COLUMN - col, "", n, text);
    col = HELP_COLUMN + n;
    text = nl ? nl + 1 : NULL;
    if (text) {
      fputc('\n', out);
      col = 0;
    }
  }
  if (dflt) {
    /* The default after the last help line, or on a line of its own when it does not fit. */
    if (col + 3 + (int)strlen(dflt) > HELP_WIDTH) fprintf(out, "\n%*s[%s]", HELP_COLUMN, "", dflt);
    else fprintf(out, " [%s]", dflt);
  }
  fputc('\n', out);
}

void dpt_options_print_help(FILE *out, const dpt_option_table *tables, size_t n_tables)
{
  for (size_t t = 0; t < n_tables; t++)
    for (size_t i = 0; i < tables[t].n_rows; i++) {
      const dpt_option *row = &tables[t].rows[i];
      if (row->section) fprintf(out, "%s:\n", row->section);
      if (listed(row) && !dpt_options_find(tables, t, row->name, NULL)) print_row(out, row);
    }
}

void dpt_options_print_actions(FILE *out, const dpt_option_table *tables, size_t n_tables)
{
  const char *sep = "  ";
  for (size_t t = 0; t < n_tables; t++)
    for (size_t i = 0; i < tables[t].n_rows; i++)
      if (tables[t].rows[i].kind == DPT_OPT_ACTION) {
        fprintf(out, "%s--%s", sep, tables[t].rows[i].name);
        sep = ", ";
      }
  fputc('\n', out);
}
