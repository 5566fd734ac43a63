/* json_check FILE...: exit 0 when every file is exactly one strict JSON value (RFC 8259: no NaN,
 * no Infinity); otherwise names the first file that is not and where it stops being JSON. For the
 * shell tests, which have no strict JSON parser of their own. */
#include <stdio.h>
#include <stdlib.h>

#include "tests/lib/json_check.h"

static int check(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return 1;
  }
  size_t cap = 1 << 16, len = 0;
  char *text = malloc(cap);
  for (size_t got; text && (got = fread(text + len, 1, cap - len, f)) > 0;) {
    len += got;
    char *grown = len == cap ? realloc(text, cap *= 2) : text;
    if (!grown) free(text);
    text = grown;
  }
  fclose(f);
  if (!text) {
    fprintf(stderr, "%s: out of memory\n", path);
    return 1;
  }
  size_t where = 0;
  int bad = !dpt_json_valid(text, len, &where);
  if (bad)
    fprintf(stderr, "%s: not JSON at byte %zu: '%.40s'\n", path, where,
            text + (where > 10 ? where - 10 : 0));
  free(text);
  return bad;
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: json_check FILE...\n");
    return 2;
  }
  int bad = 0;
  for (int i = 1; i < argc; i++) bad |= check(argv[i]);
  return bad;
}
