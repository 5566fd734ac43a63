#include "data/idx_gz.h"

#include <string.h>

const char *idx_gz_error(gzFile gz, int *code)
{
  const char *msg = gzerror(gz, code);
  const char *sep = strstr(msg, ": ");
  return sep ? sep + 2 : msg;
}
