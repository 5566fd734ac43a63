#include "host/compare/spawn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

bool dpt_find_program(const char *program, char *path, size_t size)
{
  const char *dirs = getenv("PATH");
  for (const char *p = dirs; p && *p;) {
    const char *colon = strchr(p, ':');
    size_t len = colon ? (size_t)(colon - p) : strlen(p);
    /* Relative entries (empty means ".") are skipped: the program runs in another folder. */
    int n = snprintf(path, size, "%.*s/%s", (int)len, p, program);
    if (p[0] == '/' && n > 0 && (size_t)n < size && access(path, X_OK) == 0) return true;
    if (!colon) break;
    p = colon + 1;
  }
  return false;
}

int dpt_run_program_in(const char *dir, const char *path, char *const argv[], int output_fd,
                       dpt_err *err)
{
  char what[512]; /* the command line, for messages: "gnuplot -e ... accuracy.gp" */
  size_t len = 0;
  for (int i = 0; argv[i] && len < sizeof what; i++)
    len += (size_t)snprintf(what + len, sizeof what - len, "%s%s", i ? " " : "", argv[i]);
  pid_t pid = fork();
  if (pid < 0) return dpt_err_set(err, DPT_EIO, "%s: cannot start: %s", what, strerror(errno));
  if (pid == 0) {
    /* Only async-signal-safe calls between fork and exec: other threads may hold locks. */
    if (chdir(dir) != 0) _exit(126);
    if (output_fd >= 0 &&
        (dup2(output_fd, STDOUT_FILENO) < 0 || dup2(output_fd, STDERR_FILENO) < 0))
      _exit(125);
    execv(path, argv);
    _exit(127);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return dpt_err_set(err, DPT_EIO, "%s: cannot wait for it: %s", what, strerror(errno));
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return DPT_OK;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 125)
    return dpt_err_set(err, DPT_EIO, "%s: cannot redirect its output", what);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 126)
    return dpt_err_set(err, DPT_EIO, "%s: cannot enter folder '%s'", what, dir);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
    return dpt_err_set(err, DPT_EIO, "%s: cannot run %s", what, path);
  if (WIFEXITED(status))
    return dpt_err_set(err, DPT_EIO, "%s: exited with status %d", what, WEXITSTATUS(status));
  return dpt_err_set(err, DPT_EIO, "%s: killed by signal %d", what, WTERMSIG(status));
}
