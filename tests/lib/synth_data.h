/* Small generated IDX data sets for end-to-end tests: each class is a fixed random prototype
 * image plus noise, so a model can learn it to high accuracy in a few epochs. */
#ifndef DPT_TESTS_LIB_SYNTH_DATA_H
#define DPT_TESTS_LIB_SYNTH_DATA_H

#include <stdint.h>

/* Writes DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz. Returns 0 on success. */
int dpt_synth_write(const char *dir, int train_count, int test_count, int rows, int cols,
                    int classes, uint64_t seed);

#endif
