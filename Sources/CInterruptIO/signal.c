/* The signal: choosing it, installing the handler, and the handler. */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

_Atomic int iio_signo = 0;
_Atomic int iio_cached_pid = 0;
#if defined(IIO_HAVE_PC_WINDOW)
_Atomic int iio_mode = IIO_ENTRY_PC_WINDOW;
#else
_Atomic int iio_mode = IIO_ENTRY_PORTABLE;
#endif

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
/* Written once under init_lock before our handler is installed. */
static struct sigaction previous_action;
static void handler(int sig, siginfo_t *info, void *context);

static bool signal_allowed(int signo) {
    if (signo == SIGUSR1 || signo == SIGUSR2)
        return true;
    return signo >= SIGRTMIN && signo <= SIGRTMAX;
}

static bool is_real_handler(const struct sigaction *sa) {
    if (sa->sa_flags & SA_SIGINFO)
        return sa->sa_sigaction != NULL;
    return sa->sa_handler != SIG_DFL && sa->sa_handler != SIG_IGN;
}

static bool is_ours(const struct sigaction *sa) {
    return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == handler;
}

static void after_fork_in_child(void) {
    atomic_store(&iio_cached_pid, (int)getpid());
}

static int signal_from_environment(void) {
    const char *text = getenv("INTERRUPTIO_SIGNAL");
    if (text == NULL || *text == '\0')
        return SIGRTMAX - IIO_DEFAULT_SIGNAL_FROM_RTMAX;
    char *end = NULL;
    long value = strtol(text, &end, 10);
    if (*end != '\0' || value <= 0 || value >= 4096)
        return -EINVAL;
    return (int)value;
}

static void mode_from_environment(void) {
    const char *text = getenv("INTERRUPTIO_ENTRY");
    if (text != NULL && strcmp(text, "portable") == 0)
        atomic_store(&iio_mode, IIO_ENTRY_PORTABLE);
}

int iio_init(int signo, unsigned flags) {
    if (signo == 0) {
        signo = signal_from_environment();
        if (signo < 0)
            return signo;
    }
    if (!signal_allowed(signo))
        return -EINVAL;

    pthread_mutex_lock(&init_lock);
    int result = 0;
    int current = atomic_load(&iio_signo);
    if (current != 0) {
        result = current == signo ? 0 : -EALREADY;
        goto out;
    }
    struct sigaction existing;
    if (sigaction(signo, NULL, &existing) != 0) {
        result = -errno;
        goto out;
    }
    if (is_real_handler(&existing) && !is_ours(&existing) &&
        !(flags & IIO_INIT_CHAIN)) {
        result = -EBUSY;
        goto out;
    }
    previous_action = existing;

    struct sigaction ours;
    memset(&ours, 0, sizeof ours);
    ours.sa_sigaction = handler;
    ours.sa_flags = SA_SIGINFO | SA_ONSTACK; /* no SA_RESTART: the point */
    sigemptyset(&ours.sa_mask);
    atomic_store(&iio_cached_pid, (int)getpid());
    if (sigaction(signo, &ours, NULL) != 0) {
        result = -errno;
        goto out;
    }
    static bool atfork_registered;
    if (!atfork_registered) {
        pthread_atfork(NULL, NULL, after_fork_in_child);
        atfork_registered = true;
    }
    mode_from_environment();
    atomic_store(&iio_signo, signo);
out:
    pthread_mutex_unlock(&init_lock);
    return result;
}

int iio_ensure_init(void) {
    if (atomic_load_explicit(&iio_signo, memory_order_acquire) != 0)
        return 0;
    return iio_init(0, 0);
}

int iio_signal(void) { return atomic_load(&iio_signo); }

int iio_handler_intact(void) {
    int signo = atomic_load(&iio_signo);
    if (signo == 0)
        return -EINVAL;
    struct sigaction now;
    if (sigaction(signo, NULL, &now) != 0)
        return -errno;
    return is_ours(&now) ? 1 : 0;
}

int iio_set_entry_mode(int mode) {
    if (mode == IIO_ENTRY_PORTABLE) {
        atomic_store(&iio_mode, mode);
        return 0;
    }
    if (mode != IIO_ENTRY_PC_WINDOW)
        return -EINVAL;
#if defined(IIO_HAVE_PC_WINDOW)
    atomic_store(&iio_mode, mode);
    return 0;
#else
    return -ENOTSUP;
#endif
}

int iio_entry_mode(void) { return atomic_load(&iio_mode); }

int iio_pc_window_available(void) {
#if defined(IIO_HAVE_PC_WINDOW)
    return 1;
#else
    return 0;
#endif
}

static void pass_on(int sig, siginfo_t *info, void *context) {
    const struct sigaction *prev = &previous_action;
    if (!is_real_handler(prev))
        return; /* default or ignore: a stray copy of our signal is dropped */
    if (prev->sa_flags & SA_SIGINFO)
        prev->sa_sigaction(sig, info, context);
    else
        prev->sa_handler(sig);
}

#if defined(IIO_HAVE_PC_WINDOW)
static uintptr_t *saved_pc(void *context) {
    ucontext_t *uc = context;
#if defined(__x86_64__)
    return (uintptr_t *)&uc->uc_mcontext.gregs[REG_RIP];
#else
    return (uintptr_t *)&uc->uc_mcontext.pc;
#endif
}
#endif

/*
 * Async-signal-safe: reads one thread-local pointer (initial-exec TLS, set
 * before the signal is unblocked) and one atomic word, may rewrite the saved
 * PC, and restores errno. No locks, no allocation.
 */
static void handler(int sig, siginfo_t *info, void *context) {
    int saved_errno = errno;
    struct iio_record *rec = iio_tls_record;
    uint64_t state = rec ? atomic_load_explicit(&rec->state,
                                                memory_order_acquire)
                         : 0;
    bool request_pending = (state & (IIO_ST_IN_OP | IIO_ST_CANCEL)) ==
                           (IIO_ST_IN_OP | IIO_ST_CANCEL);
    bool from_us = info->si_code == SI_TKILL &&
                   info->si_pid == atomic_load_explicit(&iio_cached_pid,
                                                        memory_order_relaxed);
    if (!from_us || !request_pending) {
        pass_on(sig, info, context);
        errno = saved_errno;
        return;
    }
#if defined(IIO_HAVE_PC_WINDOW)
    uintptr_t *pc = saved_pc(context);
    if (*pc >= (uintptr_t)iio_cp_begin && *pc < (uintptr_t)iio_cp_end)
        *pc = (uintptr_t)iio_cp_cancel;
#else
    (void)context;
#endif
    errno = saved_errno;
}
