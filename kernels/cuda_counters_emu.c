/* dpt_cuda_emu_counters_json (dpt/device.h) in the emulated build: the emulator's counters. */
#include <stdio.h>

#include "dpt/device.h"
#include "emu/cuda_emu.h"

bool dpt_cuda_emu_counters_json(int ordinal, char *buf, size_t size)
{
  uint64_t counts[DPT_EMU_COUNT_KINDS];
  if (size) buf[0] = '\0';
  if (dpt_emu_counts(ordinal, counts) != 0) return false;
  size_t used = 0;
  for (int k = 0; k < DPT_EMU_COUNT_KINDS && used < size; k++) {
    int n = snprintf(buf + used, size - used, "%s\"%s\": %llu", k ? ", " : "{",
                     dpt_emu_count_name((dpt_emu_count_kind)k), (unsigned long long)counts[k]);
    if (n < 0) return false;
    used += (size_t)n;
  }
  if (used + 2 > size) {
    if (size) buf[0] = '\0';
    return false;
  }
  snprintf(buf + used, size - used, "}");
  return true;
}

bool dpt_cuda_emu_counts(int ordinal, dpt_dev_counts *out)
{
  uint64_t c[DPT_EMU_COUNT_KINDS];
  *out = (dpt_dev_counts){0};
  if (dpt_emu_counts(ordinal, c) != 0) return false;
  *out = (dpt_dev_counts){.launches = c[DPT_EMU_KERNELS] + c[DPT_EMU_BLAS] + c[DPT_EMU_NCCL],
                          .host_waits = c[DPT_EMU_HOST_WAITS],
                          .h2d = c[DPT_EMU_H2D],
                          .d2h = c[DPT_EMU_D2H],
                          .allocs = c[DPT_EMU_ALLOCS]};
  return true;
}
