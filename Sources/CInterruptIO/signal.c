/* The signal: choosing it, installing the handler, and the handler. */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

_Atomic int iio_signo = 0;
#if defined(IIO_HAVE_PC_WINDOW)
_Atomic int iio_mode = IIO_ENTRY_PC_WINDOW;
#else
_Atomic int iio_mode = IIO_ENTRY_PORTABLE;
#endif

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
/* Written once under init_lock before our handler is installed. */
static struct sigaction previous_action;
/* Set when a SA_RESETHAND previous handler has had its one call. */
static _Atomic int previous_spent;
static uid_t our_uid;
static void handler(int sig, siginfo_t *info, void *context);

/* Its address is the value our signals carry: unique to the process. */
static const char cookie_anchor;
void *iio_signal_cookie(void) { return (void *)&cookie_anchor; }

/* Ours: sent by iio_send_signal (SI_QUEUE) or by a resend timer (SI_TIMER)
 * with our cookie. Anything else is someone else's and passed on. */
static bool is_our_signal(const siginfo_t *info) {
    return (info->si_code == SI_QUEUE || info->si_code == SI_TIMER) &&
           info->si_value.sival_ptr == (void *)&cookie_anchor;
}

int iio_send_signal(struct iio_record *rec) {
    int signo = atomic_load_explicit(&iio_signo, memory_order_relaxed);
    int pid = (int)getpid(); /* not cached: right after _Fork() and clone */
    siginfo_t info;
    memset(&info, 0, sizeof info);
    info.si_signo = signo;
    info.si_code = SI_QUEUE;
    info.si_pid = pid;
    info.si_uid = our_uid;
    info.si_value.sival_ptr = (void *)&cookie_anchor;
    int tid = atomic_load_explicit(&rec->tid, memory_order_relaxed);
    for (int attempt = 0; attempt < 100; attempt++) {
        if (syscall(SYS_rt_tgsigqueueinfo, pid, tid, signo, &info) == 0)
            return 0;
        if (errno != EAGAIN)
            return -errno;
        sched_yield(); /* the real-time signal queue is full: let it drain */
    }
    return -EAGAIN;
}

/* Before main: see fork.c. Here because every user links this file. */
__attribute__((constructor)) static void register_fork_handlers(void) {
    iio_fork_handlers_register();
}

void iio_signal_fork_prepare(void) { pthread_mutex_lock(&init_lock); }
void iio_signal_fork_parent(void) { pthread_mutex_unlock(&init_lock); }
void iio_signal_fork_child(void) { pthread_mutex_unlock(&init_lock); }

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

    iio_fork_handlers_register(); /* done before main: a load */
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
    our_uid = getuid();
    if (sigaction(signo, &ours, NULL) != 0) {
        result = -errno;
        goto out;
    }
    mode_from_environment();
    atomic_store(&iio_signo, signo);
    iio_faults_from_environment();
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

static int set_entry_mode(int mode) {
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

int iio_set_entry_mode(int mode) {
    if (!iio_faults_hold_mode())
        return -EBUSY; /* fault injection runs every call portably */
    int result = set_entry_mode(mode);
    iio_faults_release_mode();
    return result;
}

int iio_entry_mode(void) { return atomic_load(&iio_mode); }

int iio_pc_window_available(void) {
#if defined(IIO_HAVE_PC_WINDOW)
    return 1;
#else
    return 0;
#endif
}

/*
 * Someone else's signal goes to the handler that was there before ours, as
 * the kernel would have run it: its sa_mask blocked (and the signal itself,
 * unless SA_NODEFER) while it runs. SA_RESETHAND: it runs once; after that
 * foreign signals are dropped, since restoring the default action would
 * let the library's own late signals kill the process.
 */
static void pass_on(int sig, siginfo_t *info, void *context) {
    const struct sigaction *prev = &previous_action;
    if (!is_real_handler(prev))
        return; /* default or ignore */
    if ((prev->sa_flags & SA_RESETHAND) &&
        atomic_exchange(&previous_spent, 1) != 0)
        return;
    sigset_t during, before;
    pthread_sigmask(SIG_BLOCK, NULL, &before);
    during = before;
    for (int s = 1; s < NSIG; s++)
        if (sigismember(&prev->sa_mask, s) == 1)
            sigaddset(&during, s);
    if (prev->sa_flags & SA_NODEFER)
        sigdelset(&during, sig);
    else
        sigaddset(&during, sig);
    pthread_sigmask(SIG_SETMASK, &during, NULL);
    if (prev->sa_flags & SA_SIGINFO)
        prev->sa_sigaction(sig, info, context);
    else
        prev->sa_handler(sig);
    pthread_sigmask(SIG_SETMASK, &before, NULL);
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

/*
 * A PC-window operation interrupted outside the window: either the check
 * is still ahead (it will see CANCEL) or the call is over, unless this
 * handler runs nested inside an application handler that interrupted the
 * window and will, on return, let the kernel restart the call at the
 * syscall instruction, past the check (SA_RESTART). As musl does: block our
 * signal in the interrupted context and send it again. It arrives when
 * that context's mask is restored, i.e. when the application handler
 * returns, with the PC back inside the window; op end unblocks it
 * otherwise, and the late copy is then dropped as stale.
 */
/* Nested application handlers a request can wait through, one deferral a
 * level (found with two levels by the model's window_nested2). */
#define MAX_DEFERRALS 8

static void defer_to_interrupted_context(struct iio_record *rec, int sig,
                                         void *context) {
    ucontext_t *uc = context;
    sigaddset(&uc->uc_sigmask, sig);
    iio_tls_signal_deferred++;
    atomic_fetch_or(&rec->state, IIO_ST_CLEANUP); /* model: defer */
    iio_send_signal(rec);
}
#endif

/*
 * Async-signal-safe: reads one thread-local pointer (initial-exec TLS, set
 * before the signal is unblocked) and one atomic word, may rewrite the saved
 * PC or mask, may send a signal to its own thread; restores errno. No locks,
 * no allocation. Our own signals never reach a chained handler, stale ones
 * included.
 */
static void handler(int sig, siginfo_t *info, void *context) {
    int saved_errno = errno;
    if (!is_our_signal(info)) {
        pass_on(sig, info, context);
        errno = saved_errno;
        return;
    }
    struct iio_record *rec = iio_tls_record;
    uint64_t state = rec ? atomic_load_explicit(&rec->state,
                                                memory_order_acquire)
                         : 0;
    bool request_pending = (state & (IIO_ST_IN_OP | IIO_ST_CANCEL)) ==
                           (IIO_ST_IN_OP | IIO_ST_CANCEL);
    /* A portable operation needs nothing here: the interrupted syscall
     * returns EINTR, and the resend timer covers the entry gap. */
#if defined(IIO_HAVE_PC_WINDOW)
    if (request_pending && !(state & IIO_ST_PORTABLE)) {
        uintptr_t *pc = saved_pc(context);
        if (*pc >= (uintptr_t)iio_cp_begin && *pc < (uintptr_t)iio_cp_end)
            *pc = (uintptr_t)iio_cp_cancel; /* model: redirect */
        else if (*pc != (uintptr_t)iio_cp_end &&
                 iio_tls_signal_deferred < MAX_DEFERRALS)
            defer_to_interrupted_context(rec, sig, context);
        /* At iio_cp_end the kernel has returned: nothing to restart. Each
         * level of nested application handlers takes one deferral; the
         * bound keeps a context whose mask is not honoured (valgrind's)
         * from turning it into a signal storm. */
    }
#else
    (void)request_pending;
    (void)context;
#endif
    errno = saved_errno;
}
