/* Options as table rows: one row per option holds its name, value kind, bounds, default, help
 * text and where its value is stored. Parsing, --help, defaults and validation all read the same
 * rows, so they cannot disagree. */
#ifndef DPT_HOST_CLI_OPTION_TABLE_H
#define DPT_HOST_CLI_OPTION_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "dpt/status.h"

typedef enum {
  DPT_OPT_FLAG,        /* no value: sets a bool */
  DPT_OPT_INT,         /* an int in [min, max]; zero_word (e.g. "auto") stands for 0, and
                        * max_word (e.g. "inf") for INT32_MAX */
  DPT_OPT_LONG,        /* a long in [min, max] */
  DPT_OPT_U64,         /* a uint64_t */
  DPT_OPT_FLOAT,       /* a float in [min, max]; min_open excludes min */
  DPT_OPT_DOUBLE,      /* a double in [min, max]; min_open excludes min */
  DPT_OPT_CHOICE,      /* one of choices, stored as its index (an enum) */
  DPT_OPT_INT_LIST,    /* comma-separated ints in [min, max] (or max_word), at most max_items */
  DPT_OPT_CHOICE_LIST, /* comma-separated choices, at most max_items, stored as indexes */
  DPT_OPT_STRING,      /* a path or a folder, kept as given */
  DPT_OPT_ACTION,      /* --help, --version: sets the parse's action to `action` */
  DPT_OPT_REFUSED,     /* known by name only to refuse it with `help` as the reason */
} dpt_option_kind;

typedef struct dpt_option dpt_option;
struct dpt_option {
  const char *section;       /* help heading printed before this row, or NULL */
  const char *name;          /* without the dashes: "epochs" */
  const char *value;         /* the value's placeholder in help ("N", "FILE"); NULL: none */
  dpt_option_kind kind;
  size_t offset;             /* where the value goes in the table's target */
  size_t count_offset;       /* lists: where the item count (an int) goes */
  double min, max;
  bool min_open;
  int max_items;             /* lists */
  const char *const *choices; /* NULL-terminated */
  const char *zero_word;     /* INT: the word that means 0 */
  const char *max_word;      /* INT, INT_LIST: the word that means INT32_MAX (unbounded) */
  const char *default_value; /* parsed like a user's value by dpt_options_defaults; NULL: 0 */
  const char *default_help;  /* shown in help instead of default_value; NULL: default_value */
  const char *help;          /* '\n' starts a further help line; REFUSED: the reason */
  int action;                /* ACTION: the action it sets */
  /* After the value is stored: a further check of it (e.g. no list item twice); may be NULL. */
  int (*check)(const dpt_option *row, const char *value, const void *target, dpt_err *err);
};

/* Rows and the struct their offsets point into. */
typedef struct dpt_option_table {
  const dpt_option *rows;
  size_t n_rows;
  void *target;
} dpt_option_table;

/* Every row's default into its table's target (rows without one: zero). */
int dpt_options_defaults(const dpt_option_table *table, dpt_err *err);

/* One option's value into its row's place ("--name" and the value in errors). */
int dpt_option_apply(const dpt_option *row, const char *value, void *target, dpt_err *err);

/* Parses argv (argv[0] is the program) against the tables; a name in an earlier table hides the
 * same name in later ones. *action stays as it is unless an ACTION row is given. */
int dpt_options_parse(int argc, char **argv, const dpt_option_table *tables, size_t n_tables,
                      int *action, dpt_err *err);

/* The row of --name in the tables (earlier tables first), or NULL. */
const dpt_option *dpt_options_find(const dpt_option_table *tables, size_t n_tables,
                                   const char *name, void **target);

/* Help lines of every row but ACTION and REFUSED ones, and rows hidden by an earlier table. */
void dpt_options_print_help(FILE *out, const dpt_option_table *tables, size_t n_tables);
/* "  --help, --version": the ACTION rows, on one line. */
void dpt_options_print_actions(FILE *out, const dpt_option_table *tables, size_t n_tables);

#endif
