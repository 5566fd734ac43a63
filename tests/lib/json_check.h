/* A strict JSON syntax check (RFC 8259) for the files the tests read back, e.g. --trace output. */
#ifndef DPT_TESTS_LIB_JSON_CHECK_H
#define DPT_TESTS_LIB_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/* True when text[0..len) is exactly one JSON value, surrounded by optional white space. On false,
 * *where is the offset of the first byte that does not fit. */
bool dpt_json_valid(const char *text, size_t len, size_t *where);

#endif
