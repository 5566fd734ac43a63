#include "dpt/msg_fit.h"

#include <stdbool.h>
#include <string.h>

static const char marker[] = "...";
enum { MARKER = sizeof marker - 1, MIN_WORD = 24 }; /* a shortened word keeps 21 characters */

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n'; }

/* A UTF-8 continuation byte: no cut lands between a character's bytes. */
static bool continues(char c) { return ((unsigned char)c & 0xC0) == 0x80; }

/* The longest run of non-blank characters: its start and length. */
static size_t longest_word(const char *msg, size_t len, size_t *start)
{
  size_t best = 0;
  *start = 0;
  for (size_t i = 0; i < len;) {
    size_t j = i;
    while (j < len && !is_blank(msg[j])) j++;
    if (j - i > best) {
      best = j - i;
      *start = i;
    }
    i = j + 1;
  }
  return best;
}

/* Replaces the middle of msg[start, start + n) with the marker so that it is `keep` bytes long:
 * a third from its head, the rest from its tail (a path's file name is its end). */
static size_t shorten_word(char *msg, size_t len, size_t start, size_t n, size_t keep)
{
  size_t head = (keep - MARKER) / 3, tail = keep - MARKER - head;
  size_t cut_from = start + head, cut_to = start + n - tail;
  while (cut_from > start && continues(msg[cut_from])) cut_from--;
  while (cut_to < start + n && continues(msg[cut_to])) cut_to++;
  memcpy(msg + cut_from, marker, MARKER);
  memmove(msg + cut_from + MARKER, msg + cut_to, len - cut_to + 1); /* with the NUL */
  return len - (cut_to - cut_from) + MARKER;
}

size_t dpt_msg_fit(char *msg, size_t len, size_t size)
{
  while (len >= size) {
    size_t start, n = longest_word(msg, len, &start);
    if (n <= MIN_WORD) break;
    size_t excess = len - size + 1, keep = n < excess + MIN_WORD ? MIN_WORD : n - excess;
    len = shorten_word(msg, len, start, n, keep);
  }
  if (len >= size) { /* only short words left: the end goes, marked */
    len = size - 1;
    while (len > MARKER && continues(msg[len - MARKER])) len--;
    memcpy(msg + len - MARKER, marker, MARKER);
    msg[len] = '\0';
  }
  return len;
}
