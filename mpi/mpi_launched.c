/* The launcher's variables: read without MPI, so that a build without MPI can recognize (and
 * refuse) a multi-process launch, and a plain start never initializes MPI. */
#include <stdlib.h>

#include "mpi/mpi_env.h"

/* The first of the variables that is set, as a number; -1 when none is. */
static int first_set(const char *const *names)
{
  for (; *names; names++) {
    const char *v = getenv(*names);
    if (v && v[0]) return atoi(v);
  }
  return -1;
}

bool dpt_mpi_launched(int *rank, int *size)
{
  static const char *const ranks[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", NULL};
  static const char *const sizes[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", NULL};
  int r = first_set(ranks), s = first_set(sizes);
  *rank = r > 0 ? r : 0;
  *size = s > 0 ? s : 0;
  return r >= 0 || s >= 0;
}
