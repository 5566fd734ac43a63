/* --model SPEC: the text of a model's layers, parsed and checked before any data is read. What
 * depends on the data's shape (sizes, parameters) is checked in mlp_shape.c. */
#include <stdio.h>
#include <string.h>

#include "dpt/mlp.h"

#define CNN_SPEC "conv:32:3,relu,maxpool:2,conv:64:3,relu,maxpool:2,fc:128,relu,fc"

const char dpt_model_layers_help[] =
    "layers, comma-separated: fc:N (N outputs), fc (the last: one output per class),\n"
    "relu (after an fc or conv), conv:C:K (C channels, K x K kernel, stride 1,\n"
    "zero padding K/2), maxpool:P (P x P windows, stride P); images flatten\n"
    "before an fc. Presets: mlp (fc:H,relu,... for --hidden, then fc) and\n"
    "cnn (" CNN_SPEC ")";

/* The largest value of each size: beyond them a layer is no longer a model this trainer can
 * train in memory (an fc as wide as --hidden allows, a conv of 4096 channels, a 31 x 31 kernel). */
enum { FC_MAX = 1 << 16, CONV_CHANNELS_MAX = 4096, CONV_KERNEL_MAX = 31, POOL_MAX = 64 };

typedef struct parse_ctx {
  const char *spec;
  dpt_err *err;
} parse_ctx;

/* "--model 'SPEC': layer I 'ITEM': WHY" */
static int refuse(const parse_ctx *p, int item, const char *text, const char *why)
{
  return dpt_err_set(p->err, DPT_EINPUT, "--model '%s': layer %d '%s': %s", p->spec, item, text,
                     why);
}

/* A size: decimal digits only, in [lo, hi]. */
static int parse_size(const parse_ctx *p, int item, const char *text, const char *field,
                      const char *what, int lo, int hi, int *out)
{
  char why[160];
  size_t len = strlen(field);
  bool digits = len > 0 && len <= 9 && strspn(field, "0123456789") == len;
  long v = 0;
  for (size_t i = 0; digits && i < len; i++) v = v * 10 + (field[i] - '0');
  if (!digits)
    snprintf(why, sizeof why, "%s '%s' is not a whole number", what, field);
  else if (v < lo || v > hi)
    snprintf(why, sizeof why, "%s %ld: must be between %d and %d", what, v, lo, hi);
  else {
    *out = (int)v;
    return DPT_OK;
  }
  return refuse(p, item, text, why);
}

/* Splits ITEM at ':' into at most 4 fields (more: fields[4] set, a surplus). */
static int split_fields(char *item, char *fields[5])
{
  int n = 0;
  memset(fields, 0, 5 * sizeof *fields);
  for (char *s = item; n < 5; n++) {
    fields[n] = s;
    char *colon = strchr(s, ':');
    if (!colon) return n + 1;
    *colon = '\0';
    s = colon + 1;
  }
  return n;
}

static int parse_layer(const parse_ctx *p, int item, const char *text, char *buf,
                       dpt_layer_spec *out)
{
  char *f[5];
  int n = split_fields(buf, f);
  memset(out, 0, sizeof *out);
  out->item = item;
  snprintf(out->text, sizeof out->text, "%s", text);
  struct {
    const char *name;
    dpt_layer_kind kind;
    int min_fields, max_fields;
    const char *form;
  } const forms[] = {{"fc", DPT_LAYER_FC, 1, 2, "fc:N or fc"},
                     {"conv", DPT_LAYER_CONV, 3, 3, "conv:C:K"},
                     {"maxpool", DPT_LAYER_MAXPOOL, 2, 2, "maxpool:P"}};
  for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
    if (strcmp(f[0], forms[i].name) != 0) continue;
    if (n < forms[i].min_fields || n > forms[i].max_fields) {
      char why[64];
      snprintf(why, sizeof why, "malformed: the form is %s", forms[i].form);
      return refuse(p, item, text, why);
    }
    out->kind = forms[i].kind;
    switch (out->kind) {
    case DPT_LAYER_FC:
      return n == 1 ? DPT_OK : parse_size(p, item, text, f[1], "size", 1, FC_MAX, &out->size);
    case DPT_LAYER_CONV: {
      int rc = parse_size(p, item, text, f[1], "channels", 1, CONV_CHANNELS_MAX, &out->size);
      return rc ? rc : parse_size(p, item, text, f[2], "kernel", 1, CONV_KERNEL_MAX, &out->kernel);
    }
    case DPT_LAYER_MAXPOOL:
      return parse_size(p, item, text, f[1], "window", 2, POOL_MAX, &out->size);
    }
  }
  return refuse(p, item, text,
                "unknown layer (the layers: fc:N, fc, relu, conv:C:K, maxpool:P)");
}

/* Where a relu (item `item`) may go: right after an fc or conv without one. */
static int attach_relu(const parse_ctx *p, int item, const char *text, const char *buf,
                       dpt_model_spec *out)
{
  if (strcmp(buf, "relu") != 0) return refuse(p, item, text, "malformed: relu takes no size");
  if (out->n_layers == 0) return refuse(p, item, text, "relu must follow an fc or conv layer");
  dpt_layer_spec *prev = &out->layers[out->n_layers - 1];
  if (prev->relu) return refuse(p, item, text, "a second relu in a row");
  if (prev->kind == DPT_LAYER_MAXPOOL)
    return refuse(p, item, text, "relu must follow an fc or conv layer, not a maxpool");
  prev->relu = true;
  return DPT_OK;
}

/* One item of the spec: a layer appended, or a relu fused into the last. */
static int add_item(const parse_ctx *p, int item, const char *text, dpt_model_spec *out)
{
  char buf[DPT_MODEL_TEXT_MAX];
  snprintf(buf, sizeof buf, "%s", text);
  if (!*buf) return refuse(p, item, text, "empty (two commas in a row, or one at an end)");
  const dpt_layer_spec *prev = out->n_layers ? &out->layers[out->n_layers - 1] : NULL;
  if (prev && prev->kind == DPT_LAYER_FC && prev->size == 0)
    return refuse(p, item, text, "a layer after the final fc (the one without a size)");
  if (strncmp(buf, "relu", 4) == 0 && (buf[4] == '\0' || buf[4] == ':'))
    return attach_relu(p, item, text, buf, out);
  if (out->n_layers == DPT_MAX_LAYERS) {
    char why[80];
    snprintf(why, sizeof why, "more than %d layers (relu not counted)", DPT_MAX_LAYERS);
    return refuse(p, item, text, why);
  }
  dpt_layer_spec *layer = &out->layers[out->n_layers];
  int rc = parse_layer(p, item, text, buf, layer);
  if (rc) return rc;
  if (prev && prev->kind == DPT_LAYER_FC && layer->kind != DPT_LAYER_FC)
    return refuse(p, item, text, "an image layer after an fc (an fc's output is flat)");
  out->n_layers++;
  return DPT_OK;
}

static int expand_preset(const char *text, const int *hidden, int n_hidden, char *out,
                         size_t size)
{
  if (strcmp(text, "cnn") == 0) return snprintf(out, size, "%s", CNN_SPEC);
  if (strcmp(text, "mlp") != 0) return snprintf(out, size, "%s", text);
  size_t len = 0;
  for (int i = 0; i < n_hidden && len < size; i++)
    len += (size_t)snprintf(out + len, size - len, "fc:%d,relu,", hidden[i]);
  return len < size ? (int)(len + (size_t)snprintf(out + len, size - len, "fc")) : (int)len;
}

int dpt_model_spec_parse(const char *text, const int *hidden, int n_hidden, dpt_model_spec *out,
                         dpt_err *err)
{
  memset(out, 0, sizeof *out);
  if (!text || !*text) return dpt_err_set(err, DPT_EINPUT, "--model '': empty (give layers or a preset: mlp, cnn)");
  int len = expand_preset(text, hidden, n_hidden, out->text, sizeof out->text);
  if (len < 0 || (size_t)len >= sizeof out->text)
    return dpt_err_set(err, DPT_EINPUT, "--model: longer than %d characters",
                       DPT_MODEL_TEXT_MAX - 1);
  parse_ctx p = {.spec = out->text, .err = err};
  char items[DPT_MODEL_TEXT_MAX];
  memcpy(items, out->text, sizeof items);
  int item = 1, rc = DPT_OK;
  for (char *s = items; !rc; item++) {
    char *comma = strchr(s, ',');
    if (comma) *comma = '\0';
    rc = add_item(&p, item, s, out);
    if (!comma) break;
    s = comma + 1;
  }
  if (rc) return rc;
  const dpt_layer_spec *last = &out->layers[out->n_layers - 1];
  if (last->kind != DPT_LAYER_FC)
    return refuse(&p, last->item, last->text, "the last layer must be an fc (the classifier)");
  if (last->relu)
    return refuse(&p, last->item + 1, "relu", "a layer after the final fc (the classifier)");
  return DPT_OK;
}
