/* Private to kernels/: the CPU backend's image ops (see dpt_device_ops) over images [r0, r1) of
 * g.rows, the ops' bits in loops the compiler vectorizes. Arguments are checked by the caller. */
#ifndef DPT_KERNELS_CPU_IMAGE_H
#define DPT_KERNELS_CPU_IMAGE_H

#include "dpt/device.h"

void dpt_cpu_im2col(dpt_image g, const float *x, float *cols, int r0, int r1);
void dpt_cpu_col2im(dpt_image g, const float *cols, float *dx, int r0, int r1);
void dpt_cpu_maxpool(dpt_image g, const float *x, float *y, int r0, int r1);
void dpt_cpu_maxpool_bwd(dpt_image g, bool relu, const float *x, const float *dy, float *dx,
                         int r0, int r1);

#endif
