#include "host/cli/signals.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

/* The one piece of process-wide state: a signal handler has nowhere else to write. A lock-free
 * atomic rather than a volatile sig_atomic_t because the handler may run in one thread while a
 * worker thread reads it; C11 allows lock-free atomics in signal handlers. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the signal flag must be a lock-free atomic");
static atomic_int received_signal;

static void on_signal(int sig)
{
  int none = 0;
  if (atomic_compare_exchange_strong(&received_signal, &none, sig)) return;
  static const char msg[] = "dptrain: interrupted again: exiting now, without a checkpoint\n";
  ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)ignored;
  _exit(128 + sig);
}

int dpt_signals_install(dpt_err *err)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART; /* file writes and reads go on; waits poll the flag anyway */
  if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
    return dpt_err_set(err, DPT_EINTERNAL, "signals: cannot install the SIGINT/SIGTERM handlers");
  return DPT_OK;
}

void dpt_signals_release(void)
{
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
}

int dpt_signals_received(void) { return atomic_load(&received_signal); }

bool dpt_signals_stop_requested(void *ctx) { return dpt_signals_received() != 0; }
