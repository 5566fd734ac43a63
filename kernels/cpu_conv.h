/* Private to kernels/: the CPU backend's fused conv passes (see dpt_device_ops.conv_fwd and
 * conv_bwd_data) over images [r0, r1) of g.rows, one OpenBLAS thread each. Arguments are checked
 * by the caller. */
#ifndef DPT_KERNELS_CPU_CONV_H
#define DPT_KERNELS_CPU_CONV_H

#include "dpt/device.h"

/* Images per block of g's passes: the most whose patches stay within the block budget, >= 1. */
int dpt_cpu_conv_block_images(dpt_image g);

void dpt_cpu_conv_fwd(dpt_image g, int out_c, const float *x, const float *w, const float *bias,
                      bool relu, float *cols, float *y, int r0, int r1);
void dpt_cpu_conv_bwd_data(dpt_image g, int out_c, const float *d, const float *w, float *cols,
                           float *dx, int r0, int r1);

#endif
