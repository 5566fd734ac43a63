/* The kernel launches of kernels/cuda_kernels.h for the emulated device
 * (emu/cuda_emu.h): each queues, on the emulated stream, a loop over the same
 * kn_ body the GPU's grid-stride kernel calls (the launch configuration is all
 * that differs). The loops reach device memory through dpt_emu_view, which also
 * checks every range: an out-of-range access is the device's sticky
 * cudaErrorIllegalAddress, as on a GPU. */
#include <stdbool.h>

#include "emu/cuda_emu.h"
#include "kernels/cuda_kernels.h"
#include "kernels/kn_ledger.h"
#include "kernels/kn_math.h"

#define VIEW(ptr, count) dpt_emu_view((ptr), (size_t)(count) * sizeof *(ptr))

typedef struct fill_args {
  size_t n;
  float v;
  float *y;
} fill_args;

static void fill_run(void *p)
{
  fill_args *a = p;
  float *y = VIEW(a->y, a->n);
  if (!y) return;
  for (size_t i = 0; i < a->n; i++) kn_fill_at(i, a->v, y);
}

cudaError_t dpt_launch_fill(cudaStream_t s, size_t n, float v, float *y)
{
  fill_args a = {n, v, y};
  return n ? dpt_emu_launch(s, fill_run, &a, sizeof a) : cudaSuccess;
}

typedef struct bias_act_args {
  size_t n;
  int cols, relu;
  const float *bias;
  float *y;
} bias_act_args;

static void bias_act_run(void *p)
{
  bias_act_args *a = p;
  const float *bias = VIEW(a->bias, a->cols);
  float *y = VIEW(a->y, a->n);
  if (!bias || !y) return;
  for (size_t i = 0; i < a->n; i++) kn_bias_act_at(i, a->cols, bias, a->relu, y);
}

cudaError_t dpt_launch_bias_act(cudaStream_t s, size_t n, int cols, const float *bias, int relu,
                                float *y)
{
  bias_act_args a = {n, cols, relu, bias, y};
  return n ? dpt_emu_launch(s, bias_act_run, &a, sizeof a) : cudaSuccess;
}

typedef struct relu_bwd_args {
  size_t n;
  const float *y, *dy;
  float *dx;
} relu_bwd_args;

static void relu_bwd_run(void *p)
{
  relu_bwd_args *a = p;
  const float *y = VIEW(a->y, a->n), *dy = VIEW(a->dy, a->n);
  float *dx = VIEW(a->dx, a->n);
  if (!y || !dy || !dx) return;
  for (size_t i = 0; i < a->n; i++) kn_relu_bwd_at(i, y, dy, dx);
}

cudaError_t dpt_launch_relu_bwd(cudaStream_t s, size_t n, const float *y, const float *dy,
                                float *dx)
{
  relu_bwd_args a = {n, y, dy, dx};
  return n ? dpt_emu_launch(s, relu_bwd_run, &a, sizeof a) : cudaSuccess;
}

typedef struct softmax_xent_args {
  int rows, cols;
  const float *logits;
  const int32_t *labels;
  float grad_scale;
  float *dlogits, *row_loss;
  int32_t *row_argmax;
} softmax_xent_args;

static void softmax_xent_run(void *p)
{
  softmax_xent_args *a = p;
  size_t cells = (size_t)a->rows * (size_t)a->cols;
  const float *logits = VIEW(a->logits, cells);
  const int32_t *labels = VIEW(a->labels, a->rows);
  float *dlogits = VIEW(a->dlogits, cells), *row_loss = VIEW(a->row_loss, a->rows);
  int32_t *row_argmax = VIEW(a->row_argmax, a->rows);
  if (!logits || !labels || !dlogits || !row_loss || !row_argmax) return;
  /* A label outside [0, cols) makes the GPU's kernel read outside the row: the
   * same fault here. */
  for (int r = 0; r < a->rows; r++)
    if (labels[r] < 0 || labels[r] >= a->cols) {
      (void)dpt_emu_view(NULL, 0);
      return;
    }
  for (int r = 0; r < a->rows; r++)
    kn_softmax_xent_row(r, a->cols, logits, labels, a->grad_scale, dlogits, row_loss, row_argmax);
}

cudaError_t dpt_launch_softmax_xent(cudaStream_t s, int rows, int cols, const float *logits,
                                    const int32_t *labels, float grad_scale, float *dlogits,
                                    float *row_loss, int32_t *row_argmax)
{
  softmax_xent_args a = {rows, cols, logits, labels, grad_scale, dlogits, row_loss, row_argmax};
  return rows ? dpt_emu_launch(s, softmax_xent_run, &a, sizeof a) : cudaSuccess;
}

typedef struct sgd_step_args {
  size_t n;
  float *params;
  const float *grads;
  float *velocity;
  float lr, momentum, weight_decay;
  const float *skip_votes;
} sgd_step_args;

static void sgd_step_run(void *p)
{
  sgd_step_args *a = p;
  float *params = VIEW(a->params, a->n), *velocity = VIEW(a->velocity, a->n);
  const float *grads = VIEW(a->grads, a->n);
  const float *votes = a->skip_votes ? VIEW(a->skip_votes, 1) : NULL;
  if (!params || !velocity || !grads || (a->skip_votes && !votes)) return;
  if (votes && kn_step_skipped(*votes)) return;
  for (size_t i = 0; i < a->n; i++)
    kn_sgd_step_at(i, params, grads, velocity, a->lr, a->momentum, a->weight_decay);
}

cudaError_t dpt_launch_sgd_step(cudaStream_t s, size_t n, float *params, const float *grads,
                                float *velocity, float lr, float momentum, float weight_decay,
                                const float *skip_votes)
{
  sgd_step_args a = {n, params, grads, velocity, lr, momentum, weight_decay, skip_votes};
  return n ? dpt_emu_launch(s, sgd_step_run, &a, sizeof a) : cudaSuccess;
}

typedef struct add_args {
  size_t n;
  const float *x;
  float *acc;
} add_args;

static void add_run(void *p)
{
  add_args *a = p;
  const float *x = VIEW(a->x, a->n);
  float *acc = VIEW(a->acc, a->n);
  if (!x || !acc) return;
  for (size_t i = 0; i < a->n; i++) kn_add_at(i, x, acc);
}

cudaError_t dpt_launch_add(cudaStream_t s, size_t n, const float *x, float *acc)
{
  add_args a = {n, x, acc};
  return n ? dpt_emu_launch(s, add_run, &a, sizeof a) : cudaSuccess;
}

typedef struct nonfinite_args {
  size_t n;
  const float *x;
  int *flag;
} nonfinite_args;

static void nonfinite_run(void *p)
{
  nonfinite_args *a = p;
  const float *x = VIEW(a->x, a->n);
  int *flag = VIEW(a->flag, 1);
  if (!x || !flag) return;
  for (size_t i = 0; i < a->n; i++)
    if (kn_nonfinite_at(i, x)) *flag = 1;
}

cudaError_t dpt_launch_flag_nonfinite(cudaStream_t s, size_t n, const float *x, int *flag)
{
  nonfinite_args a = {n, x, flag};
  return n ? dpt_emu_launch(s, nonfinite_run, &a, sizeof a) : cudaSuccess;
}

typedef struct vote_args {
  size_t n;
  const float *grads, *gate;
  float *tally;
} vote_args;

static void vote_run(void *p)
{
  vote_args *a = p;
  const float *grads = VIEW(a->grads, a->n), *gate = VIEW(a->gate, 1);
  float *tally = VIEW(a->tally, DPT_TALLY_FLOATS);
  if (!grads || !gate || !tally) return;
  for (size_t i = 0; i < a->n; i++) kn_vote_at(i, grads, gate, tally);
}

cudaError_t dpt_launch_vote(cudaStream_t s, size_t n, const float *grads, const float *gate,
                            float *tally)
{
  vote_args a = {n, grads, gate, tally};
  return n ? dpt_emu_launch(s, vote_run, &a, sizeof a) : cudaSuccess;
}

typedef struct ledger_commit_args {
  dpt_ledger *ledger;
  const float *tally, *row_loss;
  const int32_t *row_argmax, *labels;
  int rows, max_skips, nonfinite_stop;
  double step;
} ledger_commit_args;

static void ledger_commit_run(void *p)
{
  ledger_commit_args *a = p;
  dpt_ledger *l = VIEW(a->ledger, 1);
  const float *tally = VIEW(a->tally, DPT_TALLY_FLOATS);
  /* rows = 0 (a worker with no rows of a short batch) reads none of them */
  const float *loss = a->rows ? VIEW(a->row_loss, a->rows) : NULL;
  const int32_t *argmax = a->rows ? VIEW(a->row_argmax, a->rows) : NULL;
  const int32_t *labels = a->rows ? VIEW(a->labels, a->rows) : NULL;
  if (!l || !tally || (a->rows && (!loss || !argmax || !labels))) return;
  kn_ledger_commit(l, tally, a->rows, loss, argmax, labels, a->step, a->max_skips,
                   a->nonfinite_stop);
}

cudaError_t dpt_launch_ledger_commit(cudaStream_t s, dpt_ledger *ledger, const float *tally,
                                     int rows, const float *row_loss, const int32_t *row_argmax,
                                     const int32_t *labels, double step, int max_skips,
                                     int nonfinite_stop)
{
  ledger_commit_args a = {ledger, tally, row_loss, row_argmax, labels,
                          rows,   max_skips, nonfinite_stop, step};
  return dpt_emu_launch(s, ledger_commit_run, &a, sizeof a);
}

typedef struct sgd_step_commit_args {
  sgd_step_args sgd;
  ledger_commit_args commit;
} sgd_step_commit_args;

/* As the GPU's kernel: the ledger's commit, then the SGD, both reading the tally. */
static void sgd_step_commit_run(void *p)
{
  sgd_step_commit_args *a = p;
  ledger_commit_run(&a->commit);
  sgd_step_run(&a->sgd);
}

cudaError_t dpt_launch_sgd_step_commit(cudaStream_t s, size_t n, float *params, const float *grads,
                                       float *velocity, float lr, float momentum,
                                       float weight_decay, const float *tally,
                                       const dpt_ledger_step *step)
{
  sgd_step_commit_args a = {
      .sgd = {n, params, grads, velocity, lr, momentum, weight_decay, tally + DPT_TALLY_SKIP},
      .commit = {step->ledger, tally, step->row_loss, step->row_argmax, step->labels, step->rows,
                 step->max_skips, step->nonfinite_stop, (double)step->step}};
  return dpt_emu_launch(s, sgd_step_commit_run, &a, sizeof a);
}

/* The image ops: in, out and the op's pixels (kn_math.h's bodies, one call each), with the
 * values each buffer holds for the range checks. */
typedef enum { IMAGE_IM2COL, IMAGE_COL2IM, IMAGE_MAXPOOL, IMAGE_MAXPOOL_BWD } image_op;

typedef struct image_args {
  image_op op;
  dpt_image g;
  const float *in, *grad; /* grad: maxpool_bwd's dy */
  float *out;
  bool relu; /* maxpool_bwd's */
} image_args;

static void image_run(void *p)
{
  image_args *a = p;
  dpt_image g = a->g;
  size_t image = kn_pixels(g.rows, g.h, g.w) * (size_t)g.c;
  size_t patches = kn_pixels(g.rows, kn_conv_out(g.h, g.k), kn_conv_out(g.w, g.k)) *
                   (size_t)g.k * (size_t)g.k * (size_t)g.c;
  size_t pooled_pixels = kn_pixels(g.rows, g.h / g.k, g.w / g.k);
  size_t pooled = pooled_pixels * (size_t)g.c;
  const float *in, *grad = NULL;
  float *out;
  switch (a->op) {
  case IMAGE_IM2COL:
    in = VIEW(a->in, image), out = VIEW(a->out, patches);
    if (!in || !out) return;
    for (size_t q = 0; q < patches / ((size_t)g.k * g.k * g.c); q++)
      kn_im2col_pixel(q, g.h, g.w, g.c, g.k, in, out);
    break;
  case IMAGE_COL2IM:
    in = VIEW(a->in, patches), out = VIEW(a->out, image);
    if (!in || !out) return;
    for (size_t q = 0; q < kn_pixels(g.rows, g.h, g.w); q++)
      kn_col2im_pixel(q, g.h, g.w, g.c, g.k, in, out);
    break;
  case IMAGE_MAXPOOL:
    in = VIEW(a->in, image), out = VIEW(a->out, pooled);
    if (!in || !out) return;
    for (size_t q = 0; q < pooled_pixels; q++) kn_maxpool_pixel(q, g.h, g.w, g.c, g.k, in, out);
    break;
  case IMAGE_MAXPOOL_BWD:
    in = VIEW(a->in, image), grad = VIEW(a->grad, pooled), out = VIEW(a->out, image);
    if (!in || !grad || !out) return;
    for (size_t q = 0; q < pooled_pixels; q++)
      kn_maxpool_bwd_pixel(q, g.h, g.w, g.c, g.k, a->relu, in, grad, out);
    break;
  }
}

static cudaError_t launch_image(cudaStream_t s, image_args a)
{
  return a.g.rows ? dpt_emu_launch(s, image_run, &a, sizeof a) : cudaSuccess;
}

cudaError_t dpt_launch_im2col(cudaStream_t s, dpt_image g, const float *x, float *cols)
{
  return launch_image(s, (image_args){IMAGE_IM2COL, g, x, NULL, cols, false});
}

cudaError_t dpt_launch_col2im(cudaStream_t s, dpt_image g, const float *dcols, float *dx)
{
  return launch_image(s, (image_args){IMAGE_COL2IM, g, dcols, NULL, dx, false});
}

cudaError_t dpt_launch_maxpool(cudaStream_t s, dpt_image g, const float *x, float *y)
{
  return launch_image(s, (image_args){IMAGE_MAXPOOL, g, x, NULL, y, false});
}

cudaError_t dpt_launch_maxpool_bwd(cudaStream_t s, dpt_image g, bool relu, const float *x,
                                   const float *dy, float *dx)
{
  return launch_image(s, (image_args){IMAGE_MAXPOOL_BWD, g, x, dy, dx, relu});
}
