#include "host/train/train_record.h"

#include "host/record/metrics.h"
#include "host/record/observer_tee.h"
#include "host/record/report.h"

int dpt_train_recorded(const dpt_config *cfg, const dpt_observer *obs, dpt_result *out,
                       dpt_err *err)
{
  dpt_observer_tee tee = {0};
  dpt_metrics metrics;
  int rc = obs ? dpt_observer_tee_add(&tee, obs, err) : DPT_OK;
  if (!rc && cfg->metrics_path) {
    rc = dpt_metrics_open(&metrics, cfg, err);
    dpt_observer rows = dpt_metrics_observer(&metrics);
    if (!rc && (rc = dpt_observer_tee_add(&tee, &rows, err))) dpt_metrics_discard(&metrics);
  }
  if (rc) return rc;
  dpt_observer all = dpt_observer_tee_observer(&tee);
  rc = dpt_train(cfg, &all, out, err);
  if (cfg->metrics_path) {
    if (rc) dpt_metrics_discard(&metrics);
    else rc = dpt_metrics_commit(&metrics, err);
  }
  if (!rc && cfg->report_path) rc = dpt_report_write(cfg->report_path, cfg, out, err);
  return rc;
}
