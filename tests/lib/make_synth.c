/* make_synth DIR TRAIN TEST ROWS COLS CLASSES SEED: writes a generated IDX data set for the
 * command-line tests (see synth_data.h). */
#include <stdio.h>
#include <stdlib.h>

#include "tests/lib/synth_data.h"

int main(int argc, char **argv)
{
  if (argc != 8) {
    fprintf(stderr, "usage: make_synth DIR TRAIN TEST ROWS COLS CLASSES SEED\n");
    return 2;
  }
  int v[5];
  for (int i = 0; i < 5; i++) v[i] = atoi(argv[2 + i]);
  return dpt_synth_write(argv[1], v[0], v[1], v[2], v[3], v[4], strtoull(argv[7], NULL, 10)) ? 1 : 0;
}
