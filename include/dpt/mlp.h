/* The model: a list of layers (fc, conv, maxpool, each with an optional ReLU fused in) ending in
 * fc -> softmax cross-entropy. The name stays from the MLP, the first model it held; --model SPEC
 * (host/model/model_spec.c) builds any of them. Activations are rows of one sample each, image
 * layers in HWC order (channels last), so a conv is one GEMM over every pixel of every row and a
 * flatten before an fc is free. All parameters live in one flat buffer (so a gradient exchange is
 * one buffer), layer by layer: W_l then b_l; fc: W [out x in] row-major; conv: W [C_out x K x K x
 * C_in]. A replica runs forward/backward on its device for up to max_rows samples. */
#ifndef DPT_MLP_H
#define DPT_MLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpt/device.h"
#include "dpt/status.h"

#define DPT_MAX_LAYERS 16
/* The longest canonical --model text (dpt_mlp_shape_text), with its NUL. */
#define DPT_MODEL_TEXT_MAX 512

typedef enum { DPT_LAYER_FC = 0, DPT_LAYER_CONV, DPT_LAYER_MAXPOOL } dpt_layer_kind;

/* One layer as written in a spec: fc:N (size N; 0 for a last "fc" that takes the classes),
 * conv:C:K (size C, kernel K), maxpool:P (size P); relu when a relu follows it. */
typedef struct dpt_layer_spec {
  dpt_layer_kind kind;
  int size;
  int kernel;
  bool relu;
  int item;        /* its position in the spec text, 1-based, for messages */
  char text[24];   /* its item as written, for messages (cut when longer) */
} dpt_layer_spec;

/* A parsed --model: its layers, not yet applied to a data shape. */
typedef struct dpt_model_spec {
  int n_layers;
  dpt_layer_spec layers[DPT_MAX_LAYERS];
  char text[DPT_MODEL_TEXT_MAX]; /* the spec as given (a preset's name expanded), for messages */
} dpt_model_spec;

/* A layer applied to its input: shapes are channels x height x width (an fc's are N x 1 x 1). */
typedef struct dpt_layer {
  dpt_layer_kind kind;
  int kernel;      /* conv: K; maxpool: P */
  bool relu;
  int in_c, in_h, in_w;
  int out_c, out_h, out_w;
} dpt_layer;

typedef struct dpt_mlp_shape {
  int n_layers;                    /* layers: conv, maxpool and fc, the last an fc */
  int sizes[DPT_MAX_LAYERS + 1];   /* values per sample: sizes[0] = features, sizes[l] = layer
                                    * l's output (c x h x w), sizes[n_layers] = classes */
  dpt_layer layers[DPT_MAX_LAYERS + 1]; /* layers[1..n_layers]; layers[0] holds the input shape
                                         * in out_c, out_h, out_w */
} dpt_mlp_shape;

/* Builds an MLP shape from the input size, hidden sizes and class count (fc layers, ReLU after
 * each hidden one): what --hidden means. */
int dpt_mlp_shape_make(int features, const int *hidden, int n_hidden, int classes,
                       dpt_mlp_shape *out, dpt_err *err);
/* Parses --model SPEC (host/model/model_spec.c): layers separated by commas, fc:N, fc (last
 * only), relu, conv:C:K, maxpool:P, or a preset: "mlp" (fc:H1,relu,...,fc:Hn,relu,fc with the
 * hidden sizes) or "cnn". A malformed spec is DPT_EINPUT naming the layer's position and text. */
int dpt_model_spec_parse(const char *text, const int *hidden, int n_hidden, dpt_model_spec *out,
                         dpt_err *err);
/* Applies a spec to samples of in_c channels of in_h x in_w (in_h = in_w = 1: plain vectors of
 * in_c features, which take no conv or maxpool) and `classes` classes. A model that cannot work
 * (a size shrinking to nothing, a last fc of the wrong size, too many parameters) is DPT_EINPUT
 * naming the layer. */
int dpt_mlp_shape_build(const dpt_model_spec *spec, int in_c, int in_h, int in_w, int classes,
                        dpt_mlp_shape *out, dpt_err *err);
/* The model as canonical spec text: "conv:32:3,relu,maxpool:2,fc:10" (the last fc's size
 * written out). Parsing it gives the same shape back. */
void dpt_mlp_shape_text(const dpt_mlp_shape *s, char *buf, size_t size);
/* The layer names and forms, for --help. */
extern const char dpt_model_layers_help[];

size_t dpt_mlp_param_count(const dpt_mlp_shape *s);
/* Offsets of W_l and b_l (l = 1..n_layers) in the flat buffer (a maxpool's are where the next
 * layer's start: it has none). */
size_t dpt_mlp_weight_offset(const dpt_mlp_shape *s, int l);
size_t dpt_mlp_bias_offset(const dpt_mlp_shape *s, int l);
/* Floats of layer l's im2col patches (a replica's scratch) for `rows` rows: one row of
 * K x K x C_in per output pixel; 0 unless l is a conv. */
double dpt_mlp_layer_patch_floats(const dpt_mlp_shape *s, int l, double rows);
/* The same summed over every layer. */
double dpt_mlp_patch_floats(const dpt_mlp_shape *s, double rows);
/* FLOPs of one sample's forward pass, 2 per multiply-add (backward costs twice that). */
double dpt_mlp_flops_per_sample(const dpt_mlp_shape *s);

/* He initialization from the project's RNG, layer by layer: W ~ N(0, 2/fan_in) (a conv's fan-in
 * is C_in x K x K), b = 0. Same numbers everywhere. */
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
  float *cols[DPT_MAX_LAYERS + 1]; /* device: conv layer l's im2col patches, kept from its
                                    * forward for its weight gradient (NULL: not a conv) */
  float *conv_grad;            /* device: the gradient w.r.t. the output of a conv that a max
                                * pooling follows (dpt_conv_pool.scratch); NULL: no such conv */
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
