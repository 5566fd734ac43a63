/* Private to kernels/: the CPU backend's image ops (see dpt_device_ops) over images [r0, r1) of
 * g.rows, the ops' bits in loops the compiler vectorizes. Arguments are checked by the caller. */
#ifndef DPT_KERNELS_CPU_IMAGE_H
#define DPT_KERNELS_CPU_IMAGE_H

#include <stdint.h>

#include "dpt/device.h"

/* A window's code: the row-major index of the entry that passes its gradient, or this for none
 * (the ReLU below stopped it). Windows of more entries than codes are not coded. */
enum { DPT_CPU_POOL_NONE = 255 };

void dpt_cpu_im2col(dpt_image g, const float *x, float *cols, int r0, int r1);
void dpt_cpu_col2im(dpt_image g, const float *cols, float *dx, int r0, int r1);
void dpt_cpu_maxpool(dpt_image g, const float *x, float *y, int r0, int r1);
void dpt_cpu_maxpool_bwd(dpt_image g, bool relu, const float *x, const float *dy, float *dx,
                         int r0, int r1);

/* maxpool, also writing each pooled value's code (laid out as y): kn_pool_argmax's entry, or
 * with relu (x a ReLU's output) DPT_CPU_POOL_NONE where that entry is not > 0. */
void dpt_cpu_maxpool_coded(dpt_image g, bool relu, const float *x, float *y, uint8_t *code,
                           int r0, int r1);
/* maxpool_bwd from the forward's codes instead of x: the same dx. */
void dpt_cpu_maxpool_bwd_coded(dpt_image g, const uint8_t *code, const float *dy, float *dx,
                               int r0, int r1);

#endif
