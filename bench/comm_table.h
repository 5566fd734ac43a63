/* One row of an allreduce table in nccl-tests' conventions, printed as a table or as CSV (the MPI
 * peer hands its rows to bench_comm as CSV). */
#ifndef DPT_BENCH_COMM_TABLE_H
#define DPT_BENCH_COMM_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct comm_row {
  size_t bytes;
  size_t count;   /* floats */
  int ranks;
  double time_us; /* median of the timed iterations */
  double algbw;   /* GB/s (1e9): bytes / time */
  double busbw;   /* GB/s: algbw * 2(ranks-1)/ranks, what each rank's links carry in a ring */
  size_t wrong;   /* elements wrong, summed over ranks and iterations */
} comm_row;

comm_row comm_row_make(size_t bytes, int ranks, double time_s, size_t wrong);

/* Table header and row; `extra` adds a column title and each row its text (NULL: none). */
void comm_table_header(FILE *f, const char *extra);
void comm_table_row(FILE *f, const comm_row *r, const char *extra);

void comm_row_write_csv(FILE *f, const comm_row *r);
/* Parses a line comm_row_write_csv wrote; false for any other line. */
bool comm_row_read_csv(const char *line, comm_row *out);

#endif
