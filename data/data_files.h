/* The four files of a data set folder, under either common spelling (internal to data/). */
#ifndef DPT_DATA_DATA_FILES_H
#define DPT_DATA_DATA_FILES_H

#include "dpt/status.h"

enum { DATA_TRAIN_IMAGES, DATA_TRAIN_LABELS, DATA_TEST_IMAGES, DATA_TEST_LABELS, DATA_FILES };

/* The path of file `which` in dir, malloc'ed into *path: the first that exists of NAME.gz, NAME,
 * DOTTED.gz and DOTTED, where NAME is e.g. train-images-idx3-ubyte and DOTTED the spelling of
 * many downloads, train-images.idx3-ubyte. When none exists: DPT_EINPUT, naming the files of dir
 * whose names look alike. */
int data_find_file(const char *dir, int which, char **path, dpt_err *err);

#endif
