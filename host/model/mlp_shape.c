/* MLP shape, flat parameter layout and initialization. */
#include <math.h>

#include "dpt/mlp.h"
#include "dpt/rng.h"

int dpt_mlp_shape_make(int features, const int *hidden, int n_hidden, int classes,
                       dpt_mlp_shape *out, dpt_err *err)
{
  if (n_hidden < 0 || n_hidden + 1 > DPT_MAX_LAYERS)
    return dpt_err_set(err, DPT_EINPUT, "--hidden: at most %d hidden layers", DPT_MAX_LAYERS - 1);
  if (features < 1) return dpt_err_set(err, DPT_EINPUT, "model: %d input features", features);
  if (classes < 2) return dpt_err_set(err, DPT_EINPUT, "model: %d classes (need 2 or more)", classes);
  out->n_layers = n_hidden + 1;
  out->sizes[0] = features;
  for (int i = 0; i < n_hidden; i++) {
    if (hidden[i] < 1)
      return dpt_err_set(err, DPT_EINPUT, "--hidden: layer %d has size %d (must be >= 1)", i + 1,
                         hidden[i]);
    out->sizes[i + 1] = hidden[i];
  }
  out->sizes[out->n_layers] = classes;
  return DPT_OK;
}

static size_t layer_params(const dpt_mlp_shape *s, int l)
{
  return (size_t)s->sizes[l] * (size_t)s->sizes[l - 1] + (size_t)s->sizes[l];
}

size_t dpt_mlp_weight_offset(const dpt_mlp_shape *s, int l)
{
  size_t off = 0;
  for (int i = 1; i < l; i++) off += layer_params(s, i);
  return off;
}

size_t dpt_mlp_bias_offset(const dpt_mlp_shape *s, int l)
{
  return dpt_mlp_weight_offset(s, l) + (size_t)s->sizes[l] * (size_t)s->sizes[l - 1];
}

size_t dpt_mlp_param_count(const dpt_mlp_shape *s)
{
  return dpt_mlp_weight_offset(s, s->n_layers + 1);
}

double dpt_mlp_flops_per_sample(const dpt_mlp_shape *s)
{
  double macs = 0;
  for (int l = 1; l <= s->n_layers; l++) macs += (double)s->sizes[l] * (double)s->sizes[l - 1];
  return 2.0 * macs;
}

void dpt_mlp_init_params(const dpt_mlp_shape *s, uint64_t seed, float *params)
{
  dpt_rng rng;
  dpt_rng_seed(&rng, seed);
  for (int l = 1; l <= s->n_layers; l++) {
    float stddev = sqrtf(2.0f / (float)s->sizes[l - 1]);
    float *w = params + dpt_mlp_weight_offset(s, l);
    size_t nw = (size_t)s->sizes[l] * (size_t)s->sizes[l - 1];
    for (size_t i = 0; i < nw; i++) w[i] = stddev * dpt_rng_normal(&rng);
    float *b = params + dpt_mlp_bias_offset(s, l);
    for (int i = 0; i < s->sizes[l]; i++) b[i] = 0.f;
  }
}
