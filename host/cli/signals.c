#include "host/cli/signals.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The process-wide state a signal handler needs: it has nowhere else to read or write. Lock-free
 * atomics rather than volatile sig_atomic_t because the handler may run in one thread while
 * others read them; C11 allows lock-free atomics in signal handlers. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2 && ATOMIC_LLONG_LOCK_FREE == 2 &&
                   ATOMIC_BOOL_LOCK_FREE == 2,
               "the signal state must be lock-free atomics");
static atomic_int received_signal;
static atomic_llong first_signal_ns; /* CLOCK_MONOTONIC; 0 until the first handler stored it */
static atomic_bool line_open;
/* Written by install before the handlers exist, only read by them: "\n" + the line for SIGINT,
 * for SIGTERM (the newline is written only when a line is open). */
static char ack_text[2][256];
static size_t ack_len[2];
static bool ack_enabled;

static long long monotonic_ns(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t); /* async-signal-safe (POSIX) */
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* text starts with a newline, written only when it ends an open line. */
static void say_line(const char *text, size_t len)
{
  size_t skip = atomic_load(&line_open) ? 0 : 1;
  ssize_t ignored = write(STDERR_FILENO, text + skip, len - skip);
  (void)ignored;
}

static void on_signal(int sig)
{
  int saved_errno = errno; /* the interrupted code may be about to read it */
  long long now = monotonic_ns();
  int none = 0;
  if (atomic_compare_exchange_strong(&received_signal, &none, sig)) {
    atomic_store(&first_signal_ns, now);
    int which = sig == SIGTERM;
    if (ack_enabled) say_line(ack_text[which], ack_len[which]);
  } else {
    /* 0: the first handler, in another thread, has not stored its time yet: the same burst. */
    long long first = atomic_load(&first_signal_ns);
    if (first != 0 && now - first >= DPT_SIGNALS_GRACE_S * 1000000000LL) {
      static const char msg[] = "\ndptrain: interrupted again: exiting now, without a checkpoint\n";
      say_line(msg, sizeof msg - 1);
      _exit(128 + sig);
    }
  }
  errno = saved_errno;
}

static void compose(int which, const char *name, const char *then)
{
  char *text = ack_text[which];
  size_t size = sizeof ack_text[which];
  int n = snprintf(text, size, "\ndptrain: %s: stopping after this step; %s\n", name, then);
  ack_len[which] = n > 0 && (size_t)n < size ? (size_t)n : size - 1;
  text[ack_len[which] - 1] = '\n'; /* a cut text still ends its line */
}

int dpt_signals_install(bool acknowledge_signals, const char *then, dpt_err *err)
{
  compose(0, "SIGINT", then);
  compose(1, "SIGTERM", then);
  ack_enabled = acknowledge_signals;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART; /* file writes and reads go on; waits poll the flag anyway */
  if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
    return dpt_err_set(err, DPT_EINTERNAL, "signals: cannot install the SIGINT/SIGTERM handlers");
  if (signal(SIGXFSZ, SIG_IGN) == SIG_ERR)
    return dpt_err_set(err, DPT_EINTERNAL, "signals: cannot ignore SIGXFSZ");
  return DPT_OK;
}

void dpt_signals_release(void)
{
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
}

int dpt_signals_received(void) { return atomic_load(&received_signal); }

bool dpt_signals_stop_requested(void *ctx) { return dpt_signals_received() != 0; }

void dpt_signals_partial_line(bool open) { atomic_store(&line_open, open); }
