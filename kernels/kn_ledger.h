/* A worker's running figures, kept where its device computes (dpt/ledger.h says who reads them and
 * when): written once, the CPU backend calls kn_ledger_commit directly, the CUDA backend from one
 * GPU thread, so both count alike. Plain C that nvcc also accepts. */
#ifndef KN_LEDGER_H
#define KN_LEDGER_H

#include "dpt/ledger.h"
#include "dpt/votes.h"
#include "kernels/kn_math.h"

/* The vote of element i of a gradient: a NaN or Inf, or (element 0) a set gate, makes this
 * worker's skip vote and own vote 1 in tally (which starts at 0: every write is the same 1). */
KN_HD static inline void kn_vote_at(size_t i, const float *grads, const float *gate, float *tally)
{
  if (kn_nonfinite_at(i, grads) || (i == 0 && *gate > 0.f)) {
    tally[DPT_TALLY_SKIP] = 1.f;
    tally[DPT_TALLY_OWN] = 1.f;
  }
}

/* After the exchange of step `step` (1-based, since training began) of `rows` rows whose losses,
 * predictions and labels the loss layer left: tally holds the exchange's summed skip and stop
 * votes and this worker's own skip vote (dpt/votes.h). A step that is not skipped adds its rows'
 * loss (summed in row order, in double) and correct predictions to the epoch's; a skipped one is
 * counted, noted among the first DPT_LEDGER_NOTES, and halts the ledger with --on-nan stop
 * (nonfinite_stop) or past max_skips in a row. Once halted nothing changes but the stop votes,
 * and every later vote of this worker is a skip (kn_ledger_gate). */
KN_HD static inline void kn_ledger_commit(dpt_ledger *l, const float *tally, int rows,
                                          const float *row_loss, const int32_t *row_argmax,
                                          const int32_t *labels, double step, int max_skips,
                                          int nonfinite_stop)
{
  l->stop_votes = tally[DPT_TALLY_STOP];
  if (l->halted_after > 0) return;
  double sum = 0, correct = 0;
  for (int r = 0; r < rows; r++) {
    sum += row_loss[r];
    correct += row_argmax[r] == labels[r];
  }
  l->step_loss = sum;
  if (!kn_step_skipped(tally[DPT_TALLY_SKIP])) {
    l->loss_sum += sum;
    l->correct += correct;
    l->samples += rows;
    l->in_a_row = 0;
    return;
  }
  if (tally[DPT_TALLY_OWN] > 0.f && l->own_bad_step == 0) l->own_bad_step = step;
  int noted = (int)l->skipped;
  if (noted < DPT_LEDGER_NOTES) {
    l->note_step[noted] = step;
    l->note_workers[noted] = tally[DPT_TALLY_SKIP];
  }
  l->skipped += 1;
  l->in_a_row += 1;
  if (nonfinite_stop || l->in_a_row > max_skips) {
    l->halted_after = step;
    l->halted_nonfinite = nonfinite_stop;
    l->gate = 1.f;
  }
}

#endif
