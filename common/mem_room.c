#include "dpt/mem_room.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* A field of a /proc file of "Name:   1234 kB" lines, in bytes; -1 when it is not there. */
static double proc_field_bytes(const char *file, const char *name)
{
  FILE *f = fopen(file, "r");
  if (!f) return -1;
  char line[256];
  double value = -1;
  size_t len = strlen(name);
  while (fgets(line, sizeof line, f))
    if (strncmp(line, name, len) == 0 && line[len] == ':') {
      double kib;
      if (sscanf(line + len + 1, "%lf", &kib) == 1) value = kib * 1024;
      break;
    }
  fclose(f);
  return value;
}

/* Room left under a resource limit, given what the process already uses of it. */
static double room_under(int resource, const char *used_field)
{
  struct rlimit lim;
  if (getrlimit(resource, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return INFINITY;
  double used = proc_field_bytes("/proc/self/status", used_field);
  double room = (double)lim.rlim_cur - (used > 0 ? used : 0);
  return room > 0 ? room : 0;
}

void dpt_mem_room_now(dpt_mem_room *out)
{
  double available = proc_field_bytes("/proc/meminfo", "MemAvailable");
  double swap = proc_field_bytes("/proc/meminfo", "SwapFree");
  if (available >= 0) {
    out->ram = available + (swap > 0 ? swap : 0);
    out->ram_source = "MemAvailable";
  } else {
    out->ram = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    out->ram_source = "physical memory";
  }
  out->address = room_under(RLIMIT_AS, "VmSize");
  out->data = room_under(RLIMIT_DATA, "VmData");
}

bool dpt_mem_limited(void)
{
  struct rlimit as, data;
  return (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) ||
         (getrlimit(RLIMIT_DATA, &data) == 0 && data.rlim_cur != RLIM_INFINITY);
}

size_t dpt_thread_stack_bytes(void)
{
  pthread_attr_t attr;
  size_t size = 0;
  if (pthread_attr_init(&attr) == 0) {
    pthread_attr_getstacksize(&attr, &size);
    pthread_attr_destroy(&attr);
  }
  return size;
}

size_t dpt_thread_reserve_bytes(void) { return dpt_thread_stack_bytes() + ((size_t)64 << 20); }

char *dpt_mem_format(double bytes, char *buf, size_t size)
{
  const double mib = 1024.0 * 1024, gib = mib * 1024;
  if (bytes < gib) snprintf(buf, size, "%.0f MiB", ceil(bytes / mib));
  else snprintf(buf, size, "%.2f GiB", bytes / gib);
  return buf;
}
