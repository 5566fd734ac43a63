/* Per-device counters (emu/cuda_emu.h): atomics in the device table, read by
 * visible ordinal. */
#include "emu/emu_internal.h"

static const char *const names[DPT_EMU_COUNT_KINDS] = {
    [DPT_EMU_KERNELS] = "kernels", [DPT_EMU_BLAS] = "blas",
    [DPT_EMU_NCCL] = "nccl",       [DPT_EMU_HOST_WAITS] = "host_waits",
    [DPT_EMU_H2D] = "h2d",         [DPT_EMU_H2D_BYTES] = "h2d_bytes",
    [DPT_EMU_D2H] = "d2h",         [DPT_EMU_D2H_BYTES] = "d2h_bytes",
    [DPT_EMU_ALLOCS] = "allocs",   [DPT_EMU_FREES] = "frees",
    [DPT_EMU_IMPLICIT_CONTEXTS] = "implicit_contexts",
};

int dpt_emu_counts(int ordinal, uint64_t out[DPT_EMU_COUNT_KINDS])
{
  emu_device *d = emu_dev(emu_visible_to_physical(ordinal));
  if (!d) return -1;
  for (int k = 0; k < DPT_EMU_COUNT_KINDS; k++) out[k] = atomic_load(&d->counts[k]);
  return 0;
}

const char *dpt_emu_count_name(dpt_emu_count_kind kind)
{
  return kind >= 0 && kind < DPT_EMU_COUNT_KINDS ? names[kind] : "?";
}
