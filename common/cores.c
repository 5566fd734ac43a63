#include "dpt/cores.h"

#include <unistd.h>

int dpt_cores_online(void)
{
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  return cores < 1 ? 1 : (int)cores;
}
