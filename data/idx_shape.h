/* Sizes and printable forms of IDX dimensions, shared by the reader, the writer and the data set
 * checks (internal to data/). */
#ifndef DPT_DATA_IDX_SHAPE_H
#define DPT_DATA_IDX_SHAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpt/data.h"

/* The largest payload the reader accepts, checked before allocating so that a forged header
 * cannot ask for absurd memory (the largest MNIST-family file is about 1% of it). */
#define IDX_MAX_PAYLOAD ((uint64_t)4 << 30)

/* Room for "4294967295x...x4294967295" with DPT_IDX_MAX_RANK dims and the terminator. */
#define IDX_DIMS_STR_MAX (DPT_IDX_MAX_RANK * 11)

/* Product of dims[first..rank) (1 when first == rank) into *out; false when it overflows size_t. */
bool idx_dims_product(const uint32_t *dims, int first, int rank, size_t *out);

/* Writes "60000x28x28" into buf (IDX_DIMS_STR_MAX bytes); returns buf. */
char *idx_dims_format(const uint32_t *dims, int rank, char *buf);

#endif
