/* Parsing and defaults from the option rows (host/cli/option_table.h). */
#include "host/cli/option_table.h"

#include <getopt.h>
#include <string.h>

#include "dpt/parse.h"

enum { MAX_OPTIONS = 64, MAX_NAME = 64 };

static void *field(void *target, size_t offset) { return (char *)target + offset; }

int dpt_option_apply(const dpt_option *row, const char *v, void *target, dpt_err *err)
{
  char opt[MAX_NAME];
  snprintf(opt, sizeof opt, "--%s", row->name);
  void *p = field(target, row->offset);
  int rc = DPT_OK, i = 0;
  switch (row->kind) {
  case DPT_OPT_FLAG: *(bool *)p = true; break;
  case DPT_OPT_INT:
    if (row->zero_word && strcmp(v, row->zero_word) == 0) *(int *)p = 0;
    else rc = dpt_parse_int_or_word(opt, v, (long)row->min, (long)row->max, row->max_word, p, err);
    break;
  case DPT_OPT_LONG:
    rc = dpt_parse_int(opt, v, (long)row->min, (long)row->max, &i, err);
    if (!rc) *(long *)p = i;
    break;
  case DPT_OPT_U64: rc = dpt_parse_u64(opt, v, p, err); break;
  case DPT_OPT_FLOAT:
    rc = dpt_parse_float(opt, v, row->min, row->min_open, row->max, p, err);
    break;
  case DPT_OPT_DOUBLE:
    rc = dpt_parse_double(opt, v, row->min, row->min_open, row->max, p, err);
    break;
  case DPT_OPT_CHOICE:
    /* Enums are stored as ints (the rows' fields are enums of int size). */
    rc = dpt_parse_choice(opt, v, row->choices, p, err);
    break;
  case DPT_OPT_INT_LIST:
    rc = dpt_parse_int_list(opt, v, (long)row->min, (long)row->max, row->max_word,
                            row->max_items, p, field(target, row->count_offset), err);
    break;
  case DPT_OPT_CHOICE_LIST:
    rc = dpt_parse_choice_list(opt, v, row->choices, row->max_items, p,
                               field(target, row->count_offset), err);
    break;
  case DPT_OPT_STRING: *(const char **)p = v; break;
  case DPT_OPT_REFUSED: return dpt_err_set(err, DPT_EINPUT, "%s: %s", opt, row->help);
  case DPT_OPT_ACTION:
    return dpt_err_set(err, DPT_EINTERNAL, "cli: %s stores no value", opt);
  }
  if (!rc && row->check) rc = row->check(row, v, target, err);
  return rc;
}

int dpt_options_defaults(const dpt_option_table *table, dpt_err *err)
{
  for (size_t i = 0; i < table->n_rows; i++) {
    const dpt_option *row = &table->rows[i];
    if (!row->default_value) continue;
    int rc = dpt_option_apply(row, row->default_value, table->target, err);
    if (rc) return rc;
  }
  return DPT_OK;
}

const dpt_option *dpt_options_find(const dpt_option_table *tables, size_t n_tables,
                                   const char *name, void **target)
{
  for (size_t t = 0; t < n_tables; t++)
    for (size_t i = 0; i < tables[t].n_rows; i++)
      if (strcmp(tables[t].rows[i].name, name) == 0) {
        if (target) *target = tables[t].target;
        return &tables[t].rows[i];
      }
  return NULL;
}

static bool takes_value(const dpt_option *row)
{
  return row->kind != DPT_OPT_FLAG && row->kind != DPT_OPT_ACTION;
}

int dpt_options_parse(int argc, char **argv, const dpt_option_table *tables, size_t n_tables,
                      int *action, dpt_err *err)
{
  struct option long_options[MAX_OPTIONS + 1];
  const dpt_option *rows[MAX_OPTIONS];
  void *targets[MAX_OPTIONS];
  int n = 0;
  for (size_t t = 0; t < n_tables; t++)
    for (size_t i = 0; i < tables[t].n_rows; i++) {
      const dpt_option *row = &tables[t].rows[i];
      if (dpt_options_find(tables, t, row->name, NULL)) continue; /* hidden by an earlier table */
      if (n == MAX_OPTIONS) return dpt_err_set(err, DPT_EINTERNAL, "cli: too many options");
      rows[n] = row;
      targets[n] = tables[t].target;
      long_options[n] = (struct option){row->name, takes_value(row) ? required_argument : no_argument,
                                        NULL, n};
      n++;
    }
  long_options[n] = (struct option){NULL, 0, NULL, 0};
  opterr = 0; /* our own messages, in our format */
  optind = 1;
  int opt;
  while ((opt = getopt_long(argc, argv, ":", long_options, NULL)) != -1) {
    const char *arg = argv[optind - 1];
    if (opt == '?')
      return dpt_err_set(err, DPT_EINPUT, "unknown option '%s' (see --help)", arg);
    if (opt == ':') return dpt_err_set(err, DPT_EINPUT, "%s: needs a value", arg);
    if (rows[opt]->kind == DPT_OPT_ACTION) {
      *action = rows[opt]->action;
      continue;
    }
    int rc = dpt_option_apply(rows[opt], optarg, targets[opt], err);
    if (rc) return rc;
  }
  if (optind < argc)
    return dpt_err_set(err, DPT_EINPUT, "unexpected argument '%s' (see --help)", argv[optind]);
  return DPT_OK;
}
