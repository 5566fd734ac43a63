#include "bench/bench_opts.h"

#include <stdio.h>
#include <string.h>

#include "bench/bench_util.h"

static bool set_value(const bench_opt *o, const char *v)
{
  switch (o->kind) {
  case BENCH_OPT_INT: return (*(int *)o->dst = bench_parse_positive(v)) > 0;
  case BENCH_OPT_LIST: return (*o->count = bench_parse_int_list(v, o->dst, o->max)) > 0;
  case BENCH_OPT_BYTES: return bench_parse_bytes(v, o->dst);
  case BENCH_OPT_STR: *(const char **)o->dst = v; return true;
  case BENCH_OPT_FLAG: break;
  }
  return false;
}

static const bench_opt *find(const bench_opt *opts, int n, const char *name)
{
  for (int i = 0; i < n; i++)
    if (!strcmp(opts[i].name, name)) return &opts[i];
  return NULL;
}

bool bench_parse_opts(int argc, char **argv, const bench_opt *opts, int n, const char *usage)
{
  for (int i = 1; i < argc; i++) {
    const char *name = argv[i];
    const bench_opt *o = find(opts, n, name);
    const char *why = NULL;
    if (!o) why = "unknown option";
    else if (o->kind == BENCH_OPT_FLAG) *(bool *)o->dst = true;
    else if (i + 1 >= argc) why = "missing value";
    else if (!set_value(o, argv[++i])) why = "bad value";
    if (why) {
      fprintf(stderr, "%s: %s: %s\nusage: %s\n", argv[0], name, why, usage);
      return false;
    }
  }
  return true;
}
