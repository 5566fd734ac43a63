/* An images file and its labels file, opened together and read in steps (internal to data/):
 * both headers, then the labels, then the images. */
#ifndef DPT_DATA_DATA_PAIR_H
#define DPT_DATA_DATA_PAIR_H

#include "data/idx_file.h"

typedef struct data_pair {
  idx_file images, labels;
} data_pair;

/* Opens both files and checks that their headers agree (ranks, counts). */
int data_pair_open(data_pair *p, const char *images_path, const char *labels_path,
                   const dpt_data_options *opts, dpt_err *err);

/* Reads the labels' payload into p->labels.idx.data. */
int data_pair_read_labels(data_pair *p);

/* The largest label read, and the first sample that has it. */
int data_pair_max_label(const data_pair *p, size_t *at);

/* Reads the images' payload and fills out (classes: 1 + the largest label). */
int data_pair_fill(data_pair *p, dpt_dataset *out, dpt_err *err);

/* Closes what is open and frees what was read (not what data_pair_fill handed over). */
void data_pair_free(data_pair *p);

#endif
