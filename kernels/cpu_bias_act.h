/* Private to kernels/: the CPU's bias + ReLU over rows of a GEMM's output, shared by the bias_act
 * op and the fused conv's blocks. */
#ifndef DPT_KERNELS_CPU_BIAS_ACT_H
#define DPT_KERNELS_CPU_BIAS_ACT_H

#include <stdbool.h>
#include <stddef.h>

#include "kernels/kn_math.h"

/* y[r][c] = kn_bias_act(y[r][c], bias[c], relu), row by row around the body kn_bias_act_at
 * runs: no i % cols, so the loop vectorizes. */
static inline void dpt_cpu_bias_act_rows(int rows, int cols, const float *bias, bool relu,
                                         float *y)
{
  for (int r = 0; r < rows; r++) {
    float *row = y + (size_t)r * (size_t)cols;
    for (int c = 0; c < cols; c++) row[c] = kn_bias_act(row[c], bias[c], relu);
  }
}

#endif
