#include "host/train/fault.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/parse.h"

static const char *const kind_names[] = {"stall", "fail", "nan", "diverge", "hang", NULL};

/* One "key=value" item of the spec, in place. */
static int apply_item(char *item, dpt_fault *out, unsigned *seen, dpt_err *err)
{
  char *eq = strchr(item, '=');
  if (!eq) return dpt_err_set(err, DPT_EINPUT, "DPT_FAULT: '%s' is not key=value", item);
  *eq = '\0';
  const char *v = eq + 1;
  int value = 0, rc;
  if (strcmp(item, "worker") == 0) {
    rc = dpt_parse_int("DPT_FAULT worker", v, 0, INT_MAX, &value, err);
    out->worker = value;
    *seen |= 1;
  } else if (strcmp(item, "step") == 0) {
    rc = dpt_parse_int("DPT_FAULT step", v, 1, INT_MAX, &value, err);
    out->step = value;
    *seen |= 2;
  } else if (strcmp(item, "kind") == 0) {
    rc = dpt_parse_choice("DPT_FAULT kind", v, kind_names, &value, err);
    out->kind = (dpt_fault_kind)(value + 1); /* kind_names start at DPT_FAULT_STALL */
    *seen |= 4;
  } else {
    rc = dpt_err_set(err, DPT_EINPUT, "DPT_FAULT: unknown key '%s' (worker, step, kind)", item);
  }
  return rc;
}

int dpt_fault_parse(const char *spec, dpt_fault *out, dpt_err *err)
{
  char copy[256];
  if (strlen(spec) >= sizeof copy)
    return dpt_err_set(err, DPT_EINPUT, "DPT_FAULT: longer than %zu characters", sizeof copy - 1);
  strcpy(copy, spec);
  unsigned seen = 0;
  int rc = DPT_OK;
  char *save = NULL;
  for (char *item = strtok_r(copy, ",", &save); item && !rc; item = strtok_r(NULL, ",", &save))
    rc = apply_item(item, out, &seen, err);
  if (!rc && seen != 7)
    rc = dpt_err_set(err, DPT_EINPUT,
                     "DPT_FAULT '%s': needs worker=W,step=S,kind=stall|fail|nan|diverge|hang", spec);
  if (rc) out->kind = DPT_FAULT_NONE;
  return rc;
}

int dpt_fault_from_env(dpt_fault *out, dpt_err *err)
{
  *out = (dpt_fault){0};
  const char *spec = getenv("DPT_FAULT");
  int rc = spec && spec[0] ? dpt_fault_parse(spec, out, err) : DPT_OK;
  const char *names[] = {"DPT_TEST_SLOW_SAVE", "DPT_TEST_SLOW_LOAD"};
  double *delays[] = {&out->slow_save_s, &out->slow_load_s};
  for (int i = 0; i < 2 && !rc; i++) {
    const char *slow = getenv(names[i]);
    if (slow && slow[0]) rc = dpt_parse_double(names[i], slow, 0, false, 3600, delays[i], err);
  }
  return rc;
}
