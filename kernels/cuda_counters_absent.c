/* dpt_cuda_emu_counters_json (dpt/device.h) in a build without the emulated device: none. */
#include "dpt/device.h"

bool dpt_cuda_emu_counters_json(int ordinal, char *buf, size_t size)
{
  if (size) buf[0] = '\0';
  return false;
}

bool dpt_cuda_emu_counts(int ordinal, dpt_dev_counts *out)
{
  *out = (dpt_dev_counts){0};
  return false;
}
