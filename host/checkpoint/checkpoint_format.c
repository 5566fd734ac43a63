#include "host/checkpoint/checkpoint_format.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/hash.h"

static const uint8_t MAGIC[8] = {'D', 'P', 'T', 'C', 'K', 'P', 'T', '\0'};

enum {
  SETTINGS_BYTES = 56,
  POSITION_BYTES = 24,
  WORKER_BYTES = 24,
  TAIL_BYTES = 24,            /* version 3's data set and epoch fields, after the arrays */
  MODEL_BYTES = DPT_MODEL_TEXT_MAX, /* version 4's model text, NUL-padded, after those */
  HEADER_CHECKED_BYTES = 120, /* the header checksum covers every header byte before it */
  ARRAY_CHUNK = 1024          /* floats turned into bytes at a time while encoding */
};

/* ---- little-endian fields: a cursor over a buffer whose size the caller has checked ---- */

typedef struct cursor {
  uint8_t *p;
} cursor;

static void put32(cursor *c, uint32_t v)
{
  for (int i = 0; i < 4; i++) *c->p++ = (uint8_t)(v >> (8 * i));
}

static void put64(cursor *c, uint64_t v)
{
  for (int i = 0; i < 8; i++) *c->p++ = (uint8_t)(v >> (8 * i));
}

static void put_f32(cursor *c, float f)
{
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  put32(c, u);
}

static void put_f64(cursor *c, double d)
{
  uint64_t u;
  memcpy(&u, &d, sizeof u);
  put64(c, u);
}

typedef struct reader {
  const uint8_t *p;
} reader;

static uint32_t get32(reader *r)
{
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)*r->p++ << (8 * i);
  return v;
}

static uint64_t get64(reader *r)
{
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)*r->p++ << (8 * i);
  return v;
}

static float get_f32(reader *r)
{
  uint32_t u = get32(r);
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static double get_f64(reader *r)
{
  uint64_t u = get64(r);
  double d;
  memcpy(&d, &u, sizeof d);
  return d;
}

/* ---- sizes ---- */

/* Parameters of the shape, or 0 when a size is not positive or the count overflows 64 bits. */
static uint64_t shape_params(const dpt_mlp_shape *s)
{
  uint64_t total = 0;
  for (int l = 1; l <= s->n_layers; l++) {
    if (s->sizes[l - 1] < 1 || s->sizes[l] < 1) return 0;
    /* W [out x in] then b [out]: out * (in + 1) < 2^62 for int sizes, so only the sum can wrap. */
    uint64_t layer = (uint64_t)s->sizes[l] * ((uint64_t)s->sizes[l - 1] + 1);
    if (total > UINT64_MAX - layer) return 0;
    total += layer;
  }
  return total;
}

/* Payload bytes of a version's file for these counts, or 0 when they overflow 64 bits. */
static uint64_t payload_bytes(uint32_t version, uint64_t workers, uint64_t n_params)
{
  uint64_t fixed = SETTINGS_BYTES + POSITION_BYTES + (version >= 3 ? TAIL_BYTES : 0) +
                   (version >= 4 ? MODEL_BYTES : 0);
  if (workers > (UINT64_MAX - fixed) / WORKER_BYTES) return 0;
  uint64_t before_arrays = fixed + workers * WORKER_BYTES;
  if (n_params > (UINT64_MAX - before_arrays) / (2 * sizeof(float))) return 0;
  return before_arrays + n_params * 2 * sizeof(float);
}

/* ---- field values: what a dptrain run can have written ---- */

static bool finite_in(float v, float lo, float hi) { return isfinite(v) && v >= lo && v <= hi; }

/* The name of the first setting or position field no run could have written, or NULL. */
static const char *bad_field(const dpt_checkpoint *ck)
{
  const dpt_schedule *s = &ck->schedule;
  if (ck->strategy != DPT_STRATEGY_ALLREDUCE && ck->strategy != DPT_STRATEGY_PS) return "strategy";
  if (ck->batch < 1) return "global batch";
  if (!finite_in(s->base_lr, 0.f, INFINITY) || s->base_lr == 0.f) return "lr";
  if (!finite_in(s->warmup_epochs, 0.f, INFINITY)) return "warm-up epochs";
  if (s->decay != DPT_LR_COSINE && s->decay != DPT_LR_STEP && s->decay != DPT_LR_CONSTANT)
    return "lr decay";
  if (s->step_epochs < 1) return "lr step epochs";
  if (!finite_in(s->gamma, 0.f, 1.f) || s->gamma == 0.f) return "lr gamma";
  if (!finite_in(ck->momentum, 0.f, 1.f) || ck->momentum == 1.f) return "momentum";
  if (!finite_in(ck->weight_decay, 0.f, INFINITY)) return "weight decay";
  if (ck->epochs < 1) return "epochs";
  if (ck->train_samples < 1) return "training samples";
  uint64_t steps_per_epoch = (ck->train_samples - 1) / (uint64_t)ck->batch + 1;
  if (ck->epoch < 1 || ck->epoch > ck->epochs + 1) return "epoch";
  if (ck->step >= steps_per_epoch || (ck->epoch > ck->epochs && ck->step != 0)) return "step";
  uint64_t epochs = (uint64_t)ck->epochs;
  uint64_t all_steps =
      steps_per_epoch > UINT64_MAX / epochs ? UINT64_MAX : steps_per_epoch * epochs;
  if (ck->skipped_steps > all_steps) return "skipped steps";
  /* A run diverges, saving nothing, once the steps in a row pass --max-skips (at most 10^9):
   * the 32 bits of their field always hold them. */
  if (ck->skips_in_a_row > ck->skipped_steps || ck->skips_in_a_row > UINT32_MAX)
    return "steps skipped in a row";
  if (ck->epoch_skipped_steps > ck->skipped_steps || ck->epoch_skipped_steps > ck->step)
    return "steps skipped in the epoch";
  for (int w = 0; w < ck->workers; w++) {
    const dpt_checkpoint_worker *k = &ck->per_worker[w];
    /* A loss is never negative; NaN is left alone: reporting a diverged epoch is not corruption. */
    if (k->loss_sum < 0 || k->samples > ck->train_samples || k->correct > k->samples)
      return "per-worker figures";
  }
  return NULL;
}

/* Whether a model text field is not what dptrain writes: NUL-terminated within its bytes, not
 * empty, of the spec's characters only (the layers' names, digits, ':' and ','). */
static bool bad_model(const char *model)
{
  size_t len = strnlen(model, MODEL_BYTES);
  return len == 0 || len == MODEL_BYTES || strspn(model, "abcdefghijklmnopqrstuvwxyz0123456789:,") != len;
}

/* Whether the model text is an MLP's (fc and relu layers only; versions 1 to 3 hold only MLPs),
 * whose sizes give its parameter count. Other models' counts are checked against the run's model
 * when it resumes (host/train/checkpoint_run.c). */
static bool is_mlp(const char *model)
{
  return !strstr(model, "conv") && !strstr(model, "maxpool");
}

/* A shape, worker count and parameter count that agree, or the reason they do not. Before the
 * payload is read (mlp_known false) the parameter count cannot be checked against the sizes. */
static const char *bad_sizes(const dpt_checkpoint *ck, bool mlp_known)
{
  if (ck->shape.n_layers < 1 || ck->shape.n_layers > DPT_MAX_LAYERS) return "layer count";
  if (shape_params(&ck->shape) == 0) return "layer sizes";
  if (ck->n_params < 1) return "parameter count";
  if (mlp_known && is_mlp(ck->model) && shape_params(&ck->shape) != (uint64_t)ck->n_params)
    return "parameter count";
  if (ck->workers < 1) return "workers";
  if (ck->processes < 1 || ck->processes > ck->workers || ck->workers % ck->processes)
    return "processes";
  return NULL;
}

/* The first parameter or velocity that is NaN or infinite: the array's name, with the index and
 * the value; NULL when every one is finite. A run only saves such a state after diverging, and
 * resuming from it would only carry on with the NaN. */
static const char *nonfinite_state(const dpt_checkpoint *ck, size_t *at, float *value)
{
  const struct {
    const char *name;
    const float *a;
  } arrays[] = {{"parameter", ck->params}, {"optimizer state (velocity) value", ck->velocity}};
  for (size_t k = 0; k < sizeof arrays / sizeof *arrays; k++)
    for (size_t i = 0; i < ck->n_params; i++)
      if (!isfinite(arrays[k].a[i])) {
        *at = i;
        *value = arrays[k].a[i];
        return arrays[k].name;
      }
  return NULL;
}

/* ---- encoding ---- */

/* Everything emitted goes into the checksum, and to put unless it is NULL (the checksum pass). */
typedef struct sink {
  dpt_checkpoint_put put;
  void *ctx;
  uint64_t hash;
} sink;

static int emit(sink *s, const uint8_t *bytes, size_t n, dpt_err *err)
{
  s->hash = dpt_hash_bytes(s->hash, bytes, n);
  return s->put ? s->put(s->ctx, bytes, n, err) : DPT_OK;
}

static int emit_floats(sink *s, const float *a, size_t n, dpt_err *err)
{
  uint8_t buf[ARRAY_CHUNK * sizeof(float)];
  int rc = DPT_OK;
  for (size_t lo = 0; lo < n && !rc; lo += ARRAY_CHUNK) {
    size_t len = n - lo < ARRAY_CHUNK ? n - lo : ARRAY_CHUNK;
    cursor c = {buf};
    for (size_t i = 0; i < len; i++) put_f32(&c, a[lo + i]);
    rc = emit(s, buf, len * sizeof(float), err);
  }
  return rc;
}

static int emit_payload(const dpt_checkpoint *ck, sink *s, dpt_err *err)
{
  const dpt_schedule *sch = &ck->schedule;
  uint8_t fixed[SETTINGS_BYTES + POSITION_BYTES];
  cursor c = {fixed};
  put64(&c, ck->seed);
  put32(&c, (uint32_t)ck->strategy);
  put32(&c, (uint32_t)ck->batch);
  put_f32(&c, sch->base_lr);
  put_f32(&c, sch->warmup_epochs);
  put32(&c, (uint32_t)sch->decay);
  put32(&c, (uint32_t)sch->step_epochs);
  put_f32(&c, sch->gamma);
  put_f32(&c, ck->momentum);
  put_f32(&c, ck->weight_decay);
  put32(&c, (uint32_t)ck->epochs);
  put64(&c, ck->train_samples);
  put32(&c, (uint32_t)ck->epoch);
  put32(&c, (uint32_t)ck->skips_in_a_row);
  put64(&c, ck->step);
  put64(&c, ck->skipped_steps);
  int rc = emit(s, fixed, sizeof fixed, err);
  for (int w = 0; w < ck->workers && !rc; w++) {
    uint8_t one[WORKER_BYTES];
    cursor wc = {one};
    put_f64(&wc, ck->per_worker[w].loss_sum);
    put64(&wc, ck->per_worker[w].correct);
    put64(&wc, ck->per_worker[w].samples);
    rc = emit(s, one, sizeof one, err);
  }
  if (!rc) rc = emit_floats(s, ck->params, ck->n_params, err);
  if (!rc) rc = emit_floats(s, ck->velocity, ck->n_params, err);
  uint8_t tail[TAIL_BYTES];
  cursor tc = {tail};
  put64(&tc, ck->train_fingerprint);
  put64(&tc, ck->test_fingerprint);
  put64(&tc, ck->epoch_skipped_steps);
  if (!rc) rc = emit(s, tail, sizeof tail, err);
  uint8_t model[MODEL_BYTES] = {0};
  memcpy(model, ck->model, strnlen(ck->model, MODEL_BYTES - 1));
  return rc ? rc : emit(s, model, sizeof model, err);
}

int dpt_checkpoint_encode(const dpt_checkpoint *ck, dpt_checkpoint_put put, void *ctx,
                          dpt_err *err)
{
  /* What is written must read back: the decoder's checks run here too, as a guard against bugs. */
  const char *bad = bad_sizes(ck, true);
  if (!bad && bad_model(ck->model)) bad = "model";
  if (!bad) bad = bad_field(ck);
  if (bad) return dpt_err_set(err, DPT_EINTERNAL, "checkpoint: impossible %s to save", bad);
  size_t at;
  float value;
  const char *what = nonfinite_state(ck, &at, &value);
  if (what)
    return dpt_err_set(err, DPT_ENONFINITE,
                       "checkpoint not saved: %s %zu of %zu is %g: the run diverged (an earlier "
                       "checkpoint stays as it was)",
                       what, at, ck->n_params, (double)value);
  sink checksum = {.hash = DPT_HASH_INIT};
  int rc = emit_payload(ck, &checksum, err);
  if (rc) return rc;

  uint8_t header[DPT_CHECKPOINT_HEADER_BYTES];
  memcpy(header, MAGIC, sizeof MAGIC);
  cursor c = {header + sizeof MAGIC};
  put32(&c, DPT_CHECKPOINT_VERSION);
  put32(&c, DPT_CHECKPOINT_HEADER_BYTES);
  put64(&c, payload_bytes(DPT_CHECKPOINT_VERSION, (uint64_t)ck->workers, ck->n_params));
  put64(&c, checksum.hash);
  put32(&c, (uint32_t)ck->shape.n_layers);
  for (int i = 0; i <= DPT_MAX_LAYERS; i++)
    put32(&c, i <= ck->shape.n_layers ? (uint32_t)ck->shape.sizes[i] : 0);
  put64(&c, ck->n_params);
  put32(&c, (uint32_t)ck->workers);
  put32(&c, (uint32_t)ck->processes);
  put64(&c, dpt_hash_bytes(DPT_HASH_INIT, header, HEADER_CHECKED_BYTES));
  rc = put(ctx, header, sizeof header, err);
  sink out = {.put = put, .ctx = ctx, .hash = DPT_HASH_INIT};
  return rc ? rc : emit_payload(ck, &out, err);
}

/* ---- decoding ---- */

/* Reads the header's version and sizes into out. Returns 0 or an error naming the file. */
static int decode_header(const uint8_t *buf, size_t len, const char *name, dpt_checkpoint *out,
                         uint32_t *version_out, uint64_t *payload_len, uint64_t *payload_hash,
                         dpt_err *err)
{
  if (len < sizeof MAGIC || memcmp(buf, MAGIC, sizeof MAGIC) != 0)
    return dpt_err_set(err, DPT_EINPUT, "%s: not a dptrain checkpoint (no DPTCKPT magic)", name);
  if (len < DPT_CHECKPOINT_HEADER_BYTES)
    return dpt_err_set(err, DPT_EINPUT, "%s: truncated: %zu bytes, shorter than the header",
                       name, len);
  reader r = {buf + sizeof MAGIC};
  uint32_t version = get32(&r), header_len = get32(&r);
  if (version < 1 || version > DPT_CHECKPOINT_VERSION)
    return dpt_err_set(err, DPT_EINPUT,
                       "%s: checkpoint version %u; this dptrain reads versions 1 to %d", name,
                       version, DPT_CHECKPOINT_VERSION);
  if (header_len != DPT_CHECKPOINT_HEADER_BYTES)
    return dpt_err_set(err, DPT_EINPUT, "%s: header of %u bytes; version %u has %d", name,
                       header_len, version, DPT_CHECKPOINT_HEADER_BYTES);
  reader tail = {buf + HEADER_CHECKED_BYTES};
  if (get64(&tail) != dpt_hash_bytes(DPT_HASH_INIT, buf, HEADER_CHECKED_BYTES))
    return dpt_err_set(err, DPT_EINPUT, "%s: header checksum mismatch: the file is corrupted",
                       name);
  *payload_len = get64(&r);
  *payload_hash = get64(&r);
  uint32_t layers = get32(&r);
  bool sizes_ok = layers >= 1 && layers <= DPT_MAX_LAYERS;
  out->shape.n_layers = sizes_ok ? (int)layers : 0;
  for (uint32_t i = 0; i <= DPT_MAX_LAYERS; i++) {
    uint32_t size = get32(&r);
    sizes_ok = sizes_ok && size <= INT_MAX && (i <= layers) == (size != 0);
    out->shape.sizes[i] = sizes_ok ? (int)size : 0;
  }
  uint64_t n_params = get64(&r);
  uint32_t workers = get32(&r), processes = get32(&r);
  if (version == 1) processes = processes == 0 ? 1 : 0; /* reserved (0) then: one process */
  out->n_params = (size_t)n_params;
  out->workers = workers <= INT_MAX ? (int)workers : 0;
  out->processes = processes <= INT_MAX ? (int)processes : 0; /* 0 is refused below */
  const char *bad = !sizes_ok ? "layer sizes" : bad_sizes(out, version < 4);
  /* payload_bytes' 0 (the counts overflow) must not match a payload of 0 bytes. */
  uint64_t want = payload_bytes(version, workers, n_params);
  if (!bad && (want == 0 || *payload_len != want)) bad = "payload size";
  if (bad)
    return dpt_err_set(err, DPT_EINPUT, "%s: header field '%s' holds an impossible value", name,
                       bad);
  *version_out = version;
  return DPT_OK;
}

static void read_floats(reader *r, float *a, size_t n)
{
  for (size_t i = 0; i < n; i++) a[i] = get_f32(r);
}

static void decode_payload(const uint8_t *payload, uint32_t version, dpt_checkpoint *ck)
{
  reader r = {payload};
  ck->seed = get64(&r);
  ck->strategy = (dpt_strategy)get32(&r);
  uint32_t batch = get32(&r);
  ck->schedule.base_lr = get_f32(&r);
  ck->schedule.warmup_epochs = get_f32(&r);
  ck->schedule.decay = (dpt_lr_decay)get32(&r);
  uint32_t step_epochs = get32(&r);
  ck->schedule.gamma = get_f32(&r);
  ck->momentum = get_f32(&r);
  ck->weight_decay = get_f32(&r);
  uint32_t epochs = get32(&r);
  ck->train_samples = get64(&r);
  uint32_t epoch = get32(&r), in_a_row = get32(&r);
  ck->step = get64(&r);
  ck->skipped_steps = get64(&r);
  ck->skips_in_a_row = in_a_row;
  bool reserved = version < 3 && in_a_row != 0; /* not a field yet: always 0 */
  /* Out-of-range counts become 0 (or -1), which bad_field refuses. */
  ck->batch = batch <= INT_MAX ? (int)batch : 0;
  ck->schedule.step_epochs = step_epochs <= INT_MAX ? (int)step_epochs : 0;
  ck->epochs = epochs < INT_MAX ? (int)epochs : 0;
  ck->epoch = epoch <= INT_MAX && !reserved ? (int)epoch : 0;
  for (int w = 0; w < ck->workers; w++) {
    ck->per_worker[w].loss_sum = get_f64(&r);
    ck->per_worker[w].correct = get64(&r);
    ck->per_worker[w].samples = get64(&r);
  }
  read_floats(&r, ck->params, ck->n_params);
  read_floats(&r, ck->velocity, ck->n_params);
  if (version < 3) return; /* nothing recorded: 0 */
  ck->train_fingerprint = get64(&r);
  ck->test_fingerprint = get64(&r);
  ck->epoch_skipped_steps = get64(&r);
  if (version < 4) return;
  memcpy(ck->model, r.p, MODEL_BYTES);
}

/* Versions 1 to 3 hold MLPs: their text from the sizes, as dpt_mlp_shape_text writes it. */
static void mlp_text(const dpt_mlp_shape *s, char *buf, size_t size)
{
  size_t len = 0;
  for (int l = 1; l <= s->n_layers && len < size; l++)
    len += (size_t)snprintf(buf + len, size - len, "%sfc:%d%s", l > 1 ? "," : "", s->sizes[l],
                            l < s->n_layers ? ",relu" : "");
}

int dpt_checkpoint_decode(const uint8_t *buf, size_t len, const char *name, dpt_checkpoint *out,
                          dpt_err *err)
{
  memset(out, 0, sizeof *out);
  uint32_t version = 0;
  uint64_t payload_len = 0, payload_hash = 0;
  int rc = decode_header(buf, len, name, out, &version, &payload_len, &payload_hash, err);
  if (rc) return rc;
  uint64_t have = len - DPT_CHECKPOINT_HEADER_BYTES;
  if (have != payload_len)
    return dpt_err_set(err, DPT_EINPUT, "%s: %s: %zu bytes, the header promises %llu", name,
                       have < payload_len ? "truncated" : "trailing bytes", len,
                       (unsigned long long)(DPT_CHECKPOINT_HEADER_BYTES + payload_len));
  const uint8_t *payload = buf + DPT_CHECKPOINT_HEADER_BYTES;
  if (dpt_hash_bytes(DPT_HASH_INIT, payload, payload_len) != payload_hash)
    return dpt_err_set(err, DPT_EINPUT, "%s: payload checksum mismatch: the file is corrupted",
                       name);
  /* The arrays fit in the payload just checked, so this allocation is bounded by len. */
  size_t per_worker = (size_t)out->workers * sizeof *out->per_worker;
  out->storage = malloc(per_worker + 2 * out->n_params * sizeof(float));
  if (!out->storage)
    return dpt_err_set(err, DPT_ENOMEM, "%s: out of memory for %zu parameters", name,
                       out->n_params);
  out->per_worker = out->storage;
  out->params = (float *)((char *)out->storage + per_worker);
  out->velocity = out->params + out->n_params;
  if (version < 4) mlp_text(&out->shape, out->model, sizeof out->model);
  decode_payload(payload, version, out);
  const char *bad = bad_model(out->model) ? "model" : bad_sizes(out, true);
  if (!bad) bad = bad_field(out);
  if (bad) {
    dpt_checkpoint_free(out);
    return dpt_err_set(err, DPT_EINPUT, "%s: field '%s' holds an impossible value", name, bad);
  }
  size_t at;
  float value;
  const char *what = nonfinite_state(out, &at, &value);
  if (!what) return DPT_OK;
  size_t n = out->n_params;
  dpt_checkpoint_free(out);
  return dpt_err_set(err, DPT_EINPUT,
                     "%s: %s %zu of %zu is %g: the checkpoint holds the state of a diverged run, "
                     "which would not resume",
                     name, what, at, n, (double)value);
}

void dpt_checkpoint_free(dpt_checkpoint *ck)
{
  free(ck->storage);
  memset(ck, 0, sizeof *ck);
}
