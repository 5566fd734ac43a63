/* Running a helper program (gnuplot) directly, without a shell: arguments are passed as they are,
 * so a folder name with spaces or quotes cannot be split or injected. */
#ifndef DPT_HOST_COMPARE_SPAWN_H
#define DPT_HOST_COMPARE_SPAWN_H

#include <stdbool.h>
#include <stddef.h>

#include "dpt/status.h"

/* The first executable `program` in the folders of $PATH, into path; false when there is none. */
bool dpt_find_program(const char *program, char *path, size_t size);

/* Runs the executable at path with argv (argv[0] names it in errors) in folder dir and waits; its
 * standard output and error go to output_fd (-1: this process's). DPT_OK when it exited with
 * status 0; otherwise DPT_EIO saying how it ended. */
int dpt_run_program_in(const char *dir, const char *path, char *const argv[], int output_fd,
                       dpt_err *err);

#endif
