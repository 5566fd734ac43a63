/* zlib glue shared by the IDX reader and writer (internal to data/). */
#ifndef DPT_DATA_IDX_GZ_H
#define DPT_DATA_IDX_GZ_H

#include <zlib.h>

/* zlib's own buffer per open file: large enough that a 47 MB file costs few system calls. */
#define IDX_GZ_BUFFER (256u << 10)

/* gzip stream opened on a descriptor (gzdopen), so zlib names the file "<fd:N>" in its
 * messages: this returns the message without that prefix, and the zlib code in *code. */
const char *idx_gz_error(gzFile gz, int *code);

#endif
