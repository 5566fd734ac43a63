/* One IDX file read in two steps, so that a data set's headers can all be checked (and its size
 * weighed) before any payload is read (internal to data/). */
#ifndef DPT_DATA_IDX_FILE_H
#define DPT_DATA_IDX_FILE_H

#include "data/idx_shape.h"
#include "data/idx_source.h"
#include "dpt/data.h"

typedef struct idx_file {
  idx_source src;
  bool open;
  dpt_idx idx; /* every field once the header is read; data once the payload is */
  char dims_str[IDX_DIMS_STR_MAX];
} idx_file;

/* Opens path and reads its header; the file stays open at its payload. On failure it is closed. */
int idx_file_open(idx_file *f, const char *path, const dpt_data_options *opts, dpt_err *err);

/* Reads the payload into f->idx.data, makes sure nothing follows it, and closes the file. */
int idx_file_read_payload(idx_file *f);

/* Closes the file if it is open and frees its payload. */
void idx_file_free(idx_file *f);

#endif
