#include "bench/comm_table.h"

#include "bench/bench_util.h"

comm_row comm_row_make(size_t bytes, int ranks, double time_s, size_t wrong)
{
  double algbw = (double)bytes / time_s * 1e-9;
  return (comm_row){.bytes = bytes,
                    .count = bytes / sizeof(float),
                    .ranks = ranks,
                    .time_us = time_s * 1e6,
                    .algbw = algbw,
                    .busbw = algbw * 2.0 * (ranks - 1) / ranks,
                    .wrong = wrong};
}

void comm_table_header(FILE *f, const char *extra)
{
  fprintf(f, "%10s %12s %6s %12s %9s %9s %7s  %s\n", "size", "count", "ranks", "time(us)",
          "algbw", "busbw", "#wrong", extra ? extra : "");
  fprintf(f, "%10s %12s %6s %12s %9s %9s %7s\n", "", "(floats)", "", "median", "(GB/s)",
          "(GB/s)", "");
}

void comm_table_row(FILE *f, const comm_row *r, const char *extra)
{
  char sz[16];
  fprintf(f, "%10s %12zu %6d %12.1f %9.2f %9.2f %7zu  %s\n",
          bench_format_bytes(r->bytes, sz, sizeof sz), r->count, r->ranks, r->time_us, r->algbw,
          r->busbw, r->wrong, extra ? extra : "");
}

void comm_row_write_csv(FILE *f, const comm_row *r)
{
  fprintf(f, "%zu,%d,%.17g,%zu\n", r->bytes, r->ranks, r->time_us * 1e-6, r->wrong);
}

bool comm_row_read_csv(const char *line, comm_row *out)
{
  size_t bytes, wrong;
  int ranks;
  double time_s;
  char end = '\n';
  int got = sscanf(line, "%zu,%d,%lg,%zu%c", &bytes, &ranks, &time_s, &wrong, &end);
  if (got < 4 || end != '\n' || ranks < 1 || time_s <= 0) return false;
  *out = comm_row_make(bytes, ranks, time_s, wrong);
  return true;
}
