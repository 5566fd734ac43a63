/* The MLP: Linear -> ReLU -> ... -> Linear -> softmax cross-entropy. All parameters live in one
 * flat buffer (so a gradient exchange is one buffer), layer by layer: W_l [out x in] row-major,
 * then b_l [out]. A replica runs forward/backward on its device for up to max_rows samples. */
#ifndef DPT_MLP_H
#define DPT_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "dpt/device.h"
#include "dpt/status.h"

#define DPT_MAX_LAYERS 16

typedef struct dpt_mlp_shape {
  int n_layers;                    /* linear layers: hidden layers + the output layer */
  int sizes[DPT_MAX_LAYERS + 1];   /* sizes[0] = features, sizes[n_layers] = classes */
} dpt_mlp_shape;

/* Builds a shape from the input size, hidden sizes and class count. */
int dpt_mlp_shape_make(int features, const int *hidden, int n_hidden, int classes,
                       dpt_mlp_shape *out, dpt_err *err);
size_t dpt_mlp_param_count(const dpt_mlp_shape *s);
/* Offsets of W_l and b_l (l = 1..n_layers) in the flat buffer. */
size_t dpt_mlp_weight_offset(const dpt_mlp_shape *s, int l);
size_t dpt_mlp_bias_offset(const dpt_mlp_shape *s, int l);
/* FLOPs of one sample's forward pass, 2 per multiply-add (backward costs twice that). */
double dpt_mlp_flops_per_sample(const dpt_mlp_shape *s);

/* He initialization from the project's RNG: W ~ N(0, 2/fan_in), b = 0. Same numbers everywhere. */
void dpt_mlp_init_params(const dpt_mlp_shape *s, uint64_t seed, float *params);

typedef struct dpt_mlp_replica {
  dpt_device *dev;
  dpt_mlp_shape shape;
  int max_rows;
  size_t n_params;
  float *params;               /* device: n_params */
  float *acts[DPT_MAX_LAYERS + 1]; /* device: acts[0] input rows, acts[l] layer l's output */
  float *delta[2];             /* device: ping-pong gradients w.r.t. layer outputs */
  void *relu_mask[DPT_MAX_LAYERS]; /* device: hidden layer l's ReLU mask, where the device keeps
                                    * one (dpt_dev_relu_mask_bytes); else NULL */
  int32_t *labels;             /* device: max_rows */
  float *row_loss;             /* device: max_rows */
  int32_t *row_argmax;         /* device: max_rows */
  float *host_loss;            /* host (pinned): max_rows */
  int32_t *host_argmax;        /* host (pinned): max_rows */
  int32_t *host_labels;        /* host (pinned): the labels of the rows loaded, for scoring */
} dpt_mlp_replica;

/* Allocates the replica's buffers on dev and uploads params (host). */
int dpt_mlp_replica_create(dpt_device *dev, const dpt_mlp_shape *shape, int max_rows,
                           const float *params, dpt_mlp_replica *out, dpt_err *err);
void dpt_mlp_replica_destroy(dpt_mlp_replica *r);

/* The outcome of a pass over `rows` samples. */
typedef struct dpt_mlp_pass {
  double loss_sum;  /* sum of the rows' losses, summed in row order */
  int correct;      /* rows whose argmax equals the label */
} dpt_mlp_pass;

/* Forward and backward on the rows already in acts[0] / labels: grads (device, n_params floats,
 * the caller's) = grad_scale * the gradient of the summed loss (grad_scale = 1 / global batch
 * makes the sum over workers the mean). With rows == 0 the gradient is zero. out NULL: the rows'
 * losses and predictions stay in row_loss and row_argmax on the device (for a dpt_ledger), and
 * nothing waits for it; else they are scored on the host. */
int dpt_mlp_forward_backward(dpt_mlp_replica *r, int rows, float grad_scale, float *grads,
                             dpt_mlp_pass *out, dpt_err *err);
/* Forward only (evaluation). */
int dpt_mlp_forward(dpt_mlp_replica *r, int rows, dpt_mlp_pass *out, dpt_err *err);

/* Uploads rows of features (host, rows x sizes[0]) and labels into the replica's input buffers.
 * The copies are queued: x and y (page-locked on a GPU) must stay as they are until the device
 * has run them. */
int dpt_mlp_load_rows(dpt_mlp_replica *r, int rows, const float *x, const int32_t *y,
                      dpt_err *err);

#endif
