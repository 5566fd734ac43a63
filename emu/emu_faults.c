/* The fault plan and the delay, read once from the environment:
 *   DPT_CUDA_EMU_HANG=D:N        the Nth kernel launched on device D never
 * finishes DPT_CUDA_EMU_STICKY=D:N      the Nth kernel on device D hits an
 * illegal address (sticky) DPT_CUDA_EMU_FAIL_ALLOC=D:N  the Nth cudaMalloc on
 * device D fails (out of memory) DPT_CUDA_EMU_NCCL_ERROR=R:N  rank R's Nth
 * collective ends with an asynchronous NCCL error DPT_CUDA_EMU_DELAY_US=M each
 * stream item waits a random 0..M microseconds first D is a physical ordinal
 * (the machine's numbering, before CUDA_VISIBLE_DEVICES); N counts from 1. A
 * malformed value ends the process with a one-line message: a test that asked
 * for a fault must not run without it. */
#include <stdio.h>
#include <stdlib.h>

#include "emu/emu_internal.h"

static const char *const fault_vars[EMU_FAULT_KINDS] = {
    [EMU_FAULT_HANG] = "DPT_CUDA_EMU_HANG",
    [EMU_FAULT_STICKY] = "DPT_CUDA_EMU_STICKY",
    [EMU_FAULT_ALLOC] = "DPT_CUDA_EMU_FAIL_ALLOC",
    [EMU_FAULT_NCCL] = "DPT_CUDA_EMU_NCCL_ERROR",
};

static emu_fault faults[EMU_FAULT_KINDS];
static atomic_uint delay_us;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void bad_value(const char *var, const char *v, const char *want)
{
  fprintf(stderr, "dpt cuda emulator: %s='%s': expected %s\n", var, v, want);
  exit(2);
}

static void read_fault(emu_fault_kind kind)
{
  const char *var = fault_vars[kind], *v = getenv(var);
  faults[kind] = (emu_fault){.device = -1, .nth = 0};
  if (!v || !*v) return;
  char *end = NULL;
  long where = strtol(v, &end, 10);
  if (end == v || *end != ':' || where < 0) bad_value(var, v, "WHERE:N with integers WHERE >= 0 and N >= 1");
  const char *n_text = end + 1;
  long nth = strtol(n_text, &end, 10);
  if (end == n_text || *end || nth < 1) bad_value(var, v, "WHERE:N with integers WHERE >= 0 and N >= 1");
  faults[kind] = (emu_fault){.device = where, .nth = nth};
}

static void read_all(void)
{
  for (int k = 0; k < EMU_FAULT_KINDS; k++) read_fault((emu_fault_kind)k);
  const char *v = getenv("DPT_CUDA_EMU_DELAY_US");
  if (v && *v) {
    char *end = NULL;
    long us = strtol(v, &end, 10);
    if (end == v || *end || us < 0 || us > 10000000)
      bad_value("DPT_CUDA_EMU_DELAY_US", v, "0..10000000");
    atomic_store(&delay_us, (unsigned)us);
  }
}

emu_fault emu_fault_get(emu_fault_kind kind)
{
  pthread_once(&once, read_all);
  return faults[kind];
}

unsigned emu_delay_us(void)
{
  pthread_once(&once, read_all);
  return atomic_load(&delay_us);
}

void dpt_emu_set_delay_us(unsigned max_us)
{
  pthread_once(&once, read_all);
  atomic_store(&delay_us, max_us);
}
