#include "tests/lib/json_check.h"

#include <string.h>

typedef struct cursor {
  const char *s;
  size_t len, at;
  int depth;
} cursor;

enum { MAX_DEPTH = 64 };

static bool value(cursor *c);

static void skip_space(cursor *c)
{
  while (c->at < c->len && strchr(" \t\r\n", c->s[c->at]) && c->s[c->at]) c->at++;
}

static bool eat(cursor *c, char ch)
{
  skip_space(c);
  if (c->at < c->len && c->s[c->at] == ch) {
    c->at++;
    return true;
  }
  return false;
}

static bool is_digit(const cursor *c)
{
  return c->at < c->len && c->s[c->at] >= '0' && c->s[c->at] <= '9';
}

static bool digits(cursor *c)
{
  if (!is_digit(c)) return false;
  while (is_digit(c)) c->at++;
  return true;
}

static bool number(cursor *c)
{
  if (c->at < c->len && c->s[c->at] == '-') c->at++;
  if (c->at < c->len && c->s[c->at] == '0') c->at++;
  else if (!digits(c)) return false;
  if (c->at < c->len && c->s[c->at] == '.') {
    c->at++;
    if (!digits(c)) return false;
  }
  if (c->at < c->len && (c->s[c->at] == 'e' || c->s[c->at] == 'E')) {
    c->at++;
    if (c->at < c->len && (c->s[c->at] == '+' || c->s[c->at] == '-')) c->at++;
    if (!digits(c)) return false;
  }
  return true;
}

static bool string(cursor *c)
{
  if (!eat(c, '"')) return false;
  while (c->at < c->len) {
    unsigned char ch = (unsigned char)c->s[c->at++];
    if (ch == '"') return true;
    if (ch < 0x20) return false;
    if (ch != '\\') continue;
    if (c->at >= c->len) return false;
    char esc = c->s[c->at++];
    if (esc == 'u') {
      for (int i = 0; i < 4; i++, c->at++)
        if (c->at >= c->len || !strchr("0123456789abcdefABCDEF", c->s[c->at]) || !c->s[c->at])
          return false;
    } else if (!strchr("\"\\/bfnrt", esc) || !esc) {
      return false;
    }
  }
  return false;
}

static bool literal(cursor *c, const char *word)
{
  size_t n = strlen(word);
  if (c->len - c->at < n || memcmp(c->s + c->at, word, n) != 0) return false;
  c->at += n;
  return true;
}

/* Members or elements between open and close, separated by commas; keyed for objects. */
static bool container(cursor *c, char close, bool keyed)
{
  if (++c->depth > MAX_DEPTH) return false;
  bool ok = true;
  if (!eat(c, close)) {
    do ok = (!keyed || (string(c) && eat(c, ':'))) && value(c);
    while (ok && eat(c, ','));
    ok = ok && eat(c, close);
  }
  c->depth--;
  return ok;
}

static bool value(cursor *c)
{
  skip_space(c);
  if (c->at >= c->len) return false;
  switch (c->s[c->at]) {
  case '{': c->at++; return container(c, '}', true);
  case '[': c->at++; return container(c, ']', false);
  case '"': return string(c);
  case 't': return literal(c, "true");
  case 'f': return literal(c, "false");
  case 'n': return literal(c, "null");
  default: return number(c);
  }
}

bool dpt_json_valid(const char *text, size_t len, size_t *where)
{
  cursor c = {.s = text, .len = len};
  bool ok = value(&c);
  skip_space(&c);
  ok = ok && c.at == len;
  if (where) *where = c.at;
  return ok;
}
