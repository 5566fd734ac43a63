#include "bench/bench_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "dpt/cores.h"
#include "dpt/timer.h"

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bench_median(double *v, int n)
{
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void bench_time_calls(void (*fn)(void *ctx), void *ctx, double *t, int reps)
{
  for (int i = 0; i < reps; i++) {
    double t0 = dpt_now();
    fn(ctx);
    t[i] = dpt_now() - t0;
  }
}

double bench_time_median(void (*fn)(void *ctx), void *ctx, int warmup, int reps)
{
  for (int i = 0; i < warmup; i++) fn(ctx);
  double *t = malloc((size_t)reps * sizeof *t);
  if (!t) return -1.0;
  bench_time_calls(fn, ctx, t, reps);
  double m = bench_median(t, reps);
  free(t);
  return m;
}

/* strtol for a positive int that must consume up to `*end` (returned). */
static long parse_long(const char *s, char **end)
{
  errno = 0;
  long v = strtol(s, end, 10);
  if (*end == s || errno || v < 1 || v > 1L << 30) return -1;
  return v;
}

int bench_parse_int_list(const char *s, int *out, int max)
{
  int n = 0;
  for (;;) {
    char *end;
    long v = parse_long(s, &end);
    if (v < 0 || n == max) return -1;
    out[n++] = (int)v;
    if (*end == '\0') return n;
    if (*end != ',') return -1;
    s = end + 1;
  }
}

int bench_parse_positive(const char *s)
{
  char *end;
  long v = parse_long(s, &end);
  return v < 0 || *end ? -1 : (int)v;
}

bool bench_parse_bytes(const char *s, size_t *out)
{
  char *end;
  long v = parse_long(s, &end);
  if (v < 0) return false;
  size_t mult = 1;
  switch (*end) {
  case '\0': break;
  case 'K': mult = (size_t)1 << 10; end++; break;
  case 'M': mult = (size_t)1 << 20; end++; break;
  case 'G': mult = (size_t)1 << 30; end++; break;
  default: return false;
  }
  if (*end) return false;
  *out = (size_t)v * mult;
  return true;
}

const char *bench_format_bytes(size_t bytes, char *buf, size_t size)
{
  static const char *units[] = {"B", "KB", "MB", "GB"};
  int u = 0;
  while (u < 3 && bytes >= 1024 && bytes % 1024 == 0) {
    bytes /= 1024;
    u++;
  }
  snprintf(buf, size, "%zu %s", bytes, units[u]);
  return buf;
}

int bench_size_sweep(size_t lo, size_t hi, size_t *out, int max)
{
  int n = 0;
  for (size_t s = lo; s <= hi && n < max; s *= 4) out[n++] = s;
  return n;
}

int bench_sweep_iters(const bench_sweep *sw, size_t bytes)
{
  size_t it = sw->budget / (bytes ? bytes : 1);
  return it < (size_t)sw->min_iters ? sw->min_iters
         : it > (size_t)sw->max_iters ? sw->max_iters
                                      : (int)it;
}

const char *bench_mark(bool pass)
{
  return pass ? "PASS" : "BELOW";
}

void bench_print_load(const char *when)
{
  FILE *f = fopen("/proc/loadavg", "r");
  double load;
  if (!f) return;
  if (fscanf(f, "%lf", &load) == 1)
    printf("load average (1 min) %s: %.2f on %d cores\n", when, load, dpt_cores_online());
  fclose(f);
}
