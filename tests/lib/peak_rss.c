/* peak_rss OUT CMD [ARGS...]: runs CMD, writes its peak resident memory in KiB (getrusage of the
 * waited-for child) to the file OUT, and exits with CMD's status (128 + N when signal N ended
 * it), for the shell tests that bound what a refusal may cost. */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
  if (argc < 3) {
    fprintf(stderr, "usage: peak_rss OUT CMD [ARGS...]\n");
    return 2;
  }
  pid_t pid = fork();
  if (pid < 0) {
    perror("peak_rss: fork");
    return 2;
  }
  if (pid == 0) {
    execvp(argv[2], argv + 2);
    perror("peak_rss: exec");
    _exit(127);
  }
  int status;
  if (waitpid(pid, &status, 0) != pid) {
    perror("peak_rss: waitpid");
    return 2;
  }
  struct rusage ru;
  FILE *out = fopen(argv[1], "w");
  if (getrusage(RUSAGE_CHILDREN, &ru) != 0 || !out || fprintf(out, "%ld\n", ru.ru_maxrss) < 0 ||
      fclose(out) != 0) {
    perror("peak_rss: writing the figure");
    return 2;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
