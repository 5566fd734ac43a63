/* The bytes of one data file, inflated when it is gzip (internal to data/). A regular file is
 * read straight; any other file (a FIFO, a device, a socket) is opened without blocking and each
 * read first waits for bytes with poll(), in short slices that check for a stop request, for at
 * most the options' wait: neither a FIFO with no writer nor a writer that goes quiet can hold
 * the load for ever, and a signal is acted on within a slice. */
#ifndef DPT_DATA_IDX_SOURCE_H
#define DPT_DATA_IDX_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "dpt/data.h"

typedef struct idx_source {
  const char *path;
  const dpt_data_options *opts; /* never NULL once open (defaults when the caller gave none) */
  dpt_err *err;
  int fd;
  bool waits;           /* not a regular file: poll before reading */
  bool fd_ended;        /* read() returned 0 */
  bool gzip;            /* the file starts with 1f 8b */
  bool member_ended;    /* inflate reached the end of a gzip member */
  bool inflating;       /* z is initialized */
  z_stream z;
  uint8_t *in;          /* bytes read from fd, not yet consumed: z.next_in / z.avail_in */
  size_t in_cap;
} idx_source;

/* Opens path for reading. On failure nothing stays open. */
int idx_source_open(idx_source *s, const char *path, const dpt_data_options *opts, dpt_err *err);

/* Reads up to want bytes of content into buf; *got < want means the content ended. */
int idx_source_read(idx_source *s, uint8_t *buf, size_t want, size_t *got);

void idx_source_close(idx_source *s);

#endif
