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

/* Images per block of a conv_pool's passes: the most whose patches and conv output stay within
 * the block budget, >= 1. */
int dpt_cpu_conv_pool_block_images(const dpt_conv_pool *p);

/* Whether the CPU runs p's pair fused: each pooled value's entry fits a byte code
 * (kernels/cpu_image.h). The fused pair keeps in conv_y, instead of the conv's output, the codes
 * of every pooled value, one byte each in y's order. */
bool dpt_cpu_conv_pool_coded(const dpt_conv_pool *p);

/* dpt_device_ops.conv_pool_fwd over images [r0, r1); the range's first block of p->scratch is
 * its working space. */
void dpt_cpu_conv_pool_fwd(const dpt_conv_pool *p, const float *x, float *y, int r0, int r1);
/* dpt_device_ops.conv_pool_bwd over images [r0, r1): their weight and bias gradients into gw
 * and gb (summed over the blocks in order), their dx unless dx is NULL. The range's first block
 * of p->scratch and of p->cols is its working space. */
void dpt_cpu_conv_pool_bwd(const dpt_conv_pool *p, const float *dy, float *gw, float *gb,
                           float *dx, int r0, int r1);

#endif
