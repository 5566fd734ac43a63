/* A worker's running figures of its training steps, kept on its device so that no step waits for
 * the host (docs/gpu.md): the device adds each step's loss and correct predictions once the
 * exchange's votes say whether the step counts (kn_ledger_commit, kernels/kn_ledger.h); the host
 * reads the whole ledger back only at read points (dpt_dev_ledger_read), a few steps apart on a
 * GPU and after every step on the CPU, where reading costs nothing. Everything is a double (steps
 * and counts are exact in one) but the gate. */
#ifndef DPT_LEDGER_H
#define DPT_LEDGER_H

#include <stdbool.h>
#include <stdint.h>

enum { DPT_LEDGER_NOTES = 3 }; /* the skipped steps noted one by one (the first few are announced) */

typedef struct dpt_ledger {
  double loss_sum, correct, samples; /* this epoch's, over its steps not skipped */
  double step_loss;       /* the last step's loss sum (this worker's rows), skipped or not */
  double skipped;         /* steps skipped since training began (this process's run) */
  double in_a_row;        /* steps skipped in a row up to the last */
  double note_step[DPT_LEDGER_NOTES];    /* the first skipped steps: 1-based, since training began */
  double note_workers[DPT_LEDGER_NOTES]; /* and how many workers voted to skip each */
  double halted_after;    /* 0, or the step after which every worker stops (diverged, NaN) */
  double halted_nonfinite; /* 1: halted by --on-nan stop; 0: by --max-skips */
  double own_bad_step;    /* the first skipped step whose gradient was bad on this worker */
  double stop_votes;      /* the last exchange's stop votes */
  float gate;             /* 1 once halted: this worker's every later vote is a skip */
} dpt_ledger;

/* What a step adds to a worker's ledger (kn_ledger_commit): its rows' losses, predictions and
 * labels (device memory, as the ledger), the step (1-based, since training began), and the
 * rules that halt the ledger. The exchange that ends the step commits it (dpt/sync.h). */
typedef struct dpt_ledger_step {
  dpt_ledger *ledger;
  int rows;
  const float *row_loss;
  const int32_t *row_argmax, *labels;
  long step;
  int max_skips;
  bool nonfinite_stop;
} dpt_ledger_step;

#endif
