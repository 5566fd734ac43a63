/* Default settings: with no options dptrain trains an MLP on Fashion-MNIST to >= 0.89 accuracy. */
#include "dpt/config.h"

#include <string.h>

void dpt_config_defaults(dpt_config *cfg)
{
  memset(cfg, 0, sizeof *cfg);
  cfg->data_dir = DPT_DEFAULT_DATA_DIR;
  cfg->hidden[0] = 512;
  cfg->hidden[1] = 512;
  cfg->n_hidden = 2;
  cfg->epochs = 10;
  cfg->batch = 256;
  cfg->schedule = (dpt_schedule){.base_lr = 0.1f, .warmup_epochs = 1.f, .decay = DPT_LR_COSINE,
                                 .step_epochs = 3, .gamma = 0.1f};
  cfg->momentum = 0.9f;
  cfg->weight_decay = 5e-4f;
  cfg->seed = 1;
  cfg->workers = 1;
  cfg->strategy = DPT_STRATEGY_ALLREDUCE;
  cfg->device = DPT_DEVICE_SELECT_AUTO;
  cfg->timeout_s = 300;
  /* Measured on Fashion-MNIST: a diverged run skips every step from its first skip to its end
   * (--lr 100, 1 epoch: 227 in a row; --lr 2, 10, 30, 2 epochs: 404 to 458), a healthy one none.
   * 20 lets a short burst of bad batches through and stops a diverged run within a second. */
  cfg->max_skips = 20;
  cfg->metrics_every = 10;
  cfg->trace_steps = 200;
}
