/* The model's shape on its data, flat parameter layout and initialization. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dpt/mlp.h"
#include "dpt/rng.h"
#include "kernels/kn_math.h"

/* The most parameters a model may have: 2^40 floats (4 TiB), more than any machine here holds;
 * counts past it are refused before any size arithmetic could wrap. Below it, a model too large
 * for the machine is the memory check's to refuse (host/train/run_memory.c), naming the memory. */
#define MAX_PARAMS ((uint64_t)1 << 40)

int dpt_mlp_shape_make(int features, const int *hidden, int n_hidden, int classes,
                       dpt_mlp_shape *out, dpt_err *err)
{
  if (n_hidden < 0 || n_hidden + 1 > DPT_MAX_LAYERS)
    return dpt_err_set(err, DPT_EINPUT, "--hidden: at most %d hidden layers", DPT_MAX_LAYERS - 1);
  for (int i = 0; i < n_hidden; i++)
    if (hidden[i] < 1)
      return dpt_err_set(err, DPT_EINPUT, "--hidden: layer %d has size %d (must be >= 1)", i + 1,
                         hidden[i]);
  dpt_model_spec spec;
  int rc = dpt_model_spec_parse("mlp", hidden, n_hidden, &spec, err);
  return rc ? rc : dpt_mlp_shape_build(&spec, features, 1, 1, classes, out, err);
}

static int refuse(const dpt_model_spec *spec, const dpt_layer_spec *l, dpt_err *err,
                  const char *why)
{
  return dpt_err_set(err, DPT_EINPUT, "--model '%s': layer %d '%s': %s", spec->text, l->item,
                     l->text, why);
}

static uint64_t layer_weights(const dpt_layer *l)
{
  switch (l->kind) {
  case DPT_LAYER_FC: return (uint64_t)l->out_c * (uint64_t)l->in_c * l->in_h * l->in_w;
  case DPT_LAYER_CONV: return (uint64_t)l->out_c * l->kernel * l->kernel * (uint64_t)l->in_c;
  case DPT_LAYER_MAXPOOL: return 0;
  }
  return 0;
}

static uint64_t layer_biases(const dpt_layer *l)
{
  return l->kind == DPT_LAYER_MAXPOOL ? 0 : (uint64_t)l->out_c;
}

/* Layer l's output shape from its input's, or the reason it has none. */
static const char *apply_layer(const dpt_layer_spec *ls, int classes, bool image, dpt_layer *l,
                               char *why, size_t size)
{
  l->kind = ls->kind;
  l->relu = ls->relu;
  l->kernel = ls->kind == DPT_LAYER_FC ? 0 : ls->kind == DPT_LAYER_CONV ? ls->kernel : ls->size;
  if (ls->kind != DPT_LAYER_FC && !image) {
    snprintf(why, size, "needs images, and the data's samples are vectors of %d values", l->in_c);
    return why;
  }
  switch (ls->kind) {
  case DPT_LAYER_FC:
    l->out_c = ls->size ? ls->size : classes;
    l->out_h = l->out_w = 1;
    break;
  case DPT_LAYER_CONV:
    l->out_c = ls->size;
    l->out_h = kn_conv_out(l->in_h, ls->kernel);
    l->out_w = kn_conv_out(l->in_w, ls->kernel);
    break;
  case DPT_LAYER_MAXPOOL:
    if (ls->size > l->in_h || ls->size > l->in_w) {
      snprintf(why, size, "the image is %d x %d here: a %d x %d window shrinks it to nothing",
               l->in_h, l->in_w, ls->size, ls->size);
      return why;
    }
    l->out_c = l->in_c;
    l->out_h = l->in_h / ls->size;
    l->out_w = l->in_w / ls->size;
    break;
  }
  if ((uint64_t)l->out_c * (uint64_t)l->out_h * (uint64_t)l->out_w > INT32_MAX) {
    snprintf(why, size, "its output of %d x %d x %d values per sample overflows", l->out_c,
             l->out_h, l->out_w);
    return why;
  }
  return NULL;
}

int dpt_mlp_shape_build(const dpt_model_spec *spec, int in_c, int in_h, int in_w, int classes,
                        dpt_mlp_shape *out, dpt_err *err)
{
  memset(out, 0, sizeof *out);
  if (in_c < 1 || in_h < 1 || in_w < 1 || (uint64_t)in_c * in_h * in_w > INT32_MAX)
    return dpt_err_set(err, DPT_EINPUT, "model: input of %d x %d x %d values", in_c, in_h, in_w);
  if (classes < 2) return dpt_err_set(err, DPT_EINPUT, "model: %d classes (need 2 or more)", classes);
  bool image = !(in_h == 1 && in_w == 1);
  out->n_layers = spec->n_layers;
  out->layers[0] = (dpt_layer){.out_c = in_c, .out_h = in_h, .out_w = in_w};
  out->sizes[0] = in_c * in_h * in_w;
  uint64_t params = 0;
  for (int l = 1; l <= spec->n_layers; l++) {
    const dpt_layer *prev = &out->layers[l - 1];
    dpt_layer *cur = &out->layers[l];
    *cur = (dpt_layer){.in_c = prev->out_c, .in_h = prev->out_h, .in_w = prev->out_w};
    char why[160];
    const dpt_layer_spec *ls = &spec->layers[l - 1];
    if (apply_layer(ls, classes, image, cur, why, sizeof why)) return refuse(spec, ls, err, why);
    out->sizes[l] = cur->out_c * cur->out_h * cur->out_w;
    params += layer_weights(cur) + layer_biases(cur);
    if (params > MAX_PARAMS) {
      snprintf(why, sizeof why,
               "the parameter count overflows the most supported, 2^40: %llu so far",
               (unsigned long long)params);
      return refuse(spec, ls, err, why);
    }
  }
  const dpt_layer_spec *last = &spec->layers[spec->n_layers - 1];
  if (out->sizes[out->n_layers] != classes) {
    char why[160];
    snprintf(why, sizeof why,
             "the last fc has %d outputs and the data %d classes (write fc for the classes)",
             out->sizes[out->n_layers], classes);
    return refuse(spec, last, err, why);
  }
  return DPT_OK;
}

void dpt_mlp_shape_text(const dpt_mlp_shape *s, char *buf, size_t size)
{
  size_t len = 0;
  buf[0] = '\0';
  for (int l = 1; l <= s->n_layers && len < size; l++) {
    const dpt_layer *y = &s->layers[l];
    const char *sep = l > 1 ? "," : "";
    if (y->kind == DPT_LAYER_FC)
      len += (size_t)snprintf(buf + len, size - len, "%sfc:%d", sep, y->out_c);
    else if (y->kind == DPT_LAYER_CONV)
      len += (size_t)snprintf(buf + len, size - len, "%sconv:%d:%d", sep, y->out_c, y->kernel);
    else
      len += (size_t)snprintf(buf + len, size - len, "%smaxpool:%d", sep, y->kernel);
    if (y->relu && len < size) len += (size_t)snprintf(buf + len, size - len, ",relu");
  }
}

static size_t layer_params(const dpt_mlp_shape *s, int l)
{
  return (size_t)(layer_weights(&s->layers[l]) + layer_biases(&s->layers[l]));
}

size_t dpt_mlp_weight_offset(const dpt_mlp_shape *s, int l)
{
  size_t off = 0;
  for (int i = 1; i < l; i++) off += layer_params(s, i);
  return off;
}

size_t dpt_mlp_bias_offset(const dpt_mlp_shape *s, int l)
{
  return dpt_mlp_weight_offset(s, l) + (size_t)layer_weights(&s->layers[l]);
}

size_t dpt_mlp_param_count(const dpt_mlp_shape *s)
{
  return dpt_mlp_weight_offset(s, s->n_layers + 1);
}

double dpt_mlp_layer_patch_floats(const dpt_mlp_shape *s, int l, double rows)
{
  const dpt_layer *y = &s->layers[l];
  return y->kind == DPT_LAYER_CONV
             ? rows * y->out_h * y->out_w * y->kernel * y->kernel * (double)y->in_c
             : 0;
}

double dpt_mlp_patch_floats(const dpt_mlp_shape *s, double rows)
{
  double all = 0;
  for (int l = 1; l <= s->n_layers; l++) all += dpt_mlp_layer_patch_floats(s, l, rows);
  return all;
}

double dpt_mlp_flops_per_sample(const dpt_mlp_shape *s)
{
  double macs = 0;
  for (int l = 1; l <= s->n_layers; l++) {
    const dpt_layer *y = &s->layers[l];
    double per_output = y->kind == DPT_LAYER_CONV ? (double)y->out_h * y->out_w : 1.0;
    macs += per_output * (double)layer_weights(y);
  }
  return 2.0 * macs;
}

void dpt_mlp_init_params(const dpt_mlp_shape *s, uint64_t seed, float *params)
{
  dpt_rng rng;
  dpt_rng_seed(&rng, seed);
  for (int l = 1; l <= s->n_layers; l++) {
    const dpt_layer *y = &s->layers[l];
    size_t nw = (size_t)layer_weights(y);
    if (!nw) continue;
    float stddev = sqrtf(2.0f / (float)(nw / (size_t)y->out_c)); /* fan-in */
    float *w = params + dpt_mlp_weight_offset(s, l);
    for (size_t i = 0; i < nw; i++) w[i] = stddev * dpt_rng_normal(&rng);
    float *b = params + dpt_mlp_bias_offset(s, l);
    for (int i = 0; i < y->out_c; i++) b[i] = 0.f;
  }
}
