/* The readers behind dpt_data_load_dir, with its stop check passed down (internal to data/):
 * polled before every read of at most READ_CHUNK bytes, so that a request ends even the load of
 * a large file within a fraction of a second, with DPT_EINTERRUPTED and nothing kept. The public
 * dpt_idx_read and dpt_data_load_pair are these without a check. */
#ifndef DPT_DATA_STOPPABLE_H
#define DPT_DATA_STOPPABLE_H

#include "dpt/data.h"
#include "dpt/stop.h"

int idx_read_stoppable(const char *path, const dpt_stop_check *stop, dpt_idx *out, dpt_err *err);

int data_load_pair_stoppable(const char *images_path, const char *labels_path,
                             const dpt_stop_check *stop, dpt_dataset *out, dpt_err *err);

#endif
