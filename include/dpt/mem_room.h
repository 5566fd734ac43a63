/* The memory this process may still use: what the machine has available and what the limits set
 * on the process (ulimit -v, ulimit -d) leave, for weighing a run before it allocates. */
#ifndef DPT_MEM_ROOM_H
#define DPT_MEM_ROOM_H

#include <stdbool.h>
#include <stddef.h>

typedef struct dpt_mem_room {
  double ram;             /* bytes: MemAvailable plus SwapFree (/proc/meminfo), else the
                           * machine's physical memory (sysconf) */
  const char *ram_source; /* "MemAvailable" or "physical memory" */
  /* Bytes left under RLIMIT_AS (the limit minus VmSize) and RLIMIT_DATA (the limit minus
   * VmData); INFINITY where the limit is not set. */
  double address, data;
} dpt_mem_room;

void dpt_mem_room_now(dpt_mem_room *out);

/* True when RLIMIT_AS or RLIMIT_DATA is set: a library's mapping may then fail where it would
 * not otherwise. */
bool dpt_mem_limited(void);

/* The stack a thread gets by default (pthread_attr_getstacksize of a fresh attribute). */
size_t dpt_thread_stack_bytes(void);

/* The address space a new thread that allocates memory takes at least: its stack, and the
 * 64 MiB glibc's malloc reserves for the thread's arena (HEAP_MAX_SIZE on 64-bit; seen as a
 * 64 MiB ---p mapping per worker in /proc/PID/maps). */
size_t dpt_thread_reserve_bytes(void);

/* "12.50 GiB", "300 MiB": bytes for a message, into buf (at least 32 bytes); returns buf. */
char *dpt_mem_format(double bytes, char *buf, size_t size);

#endif
