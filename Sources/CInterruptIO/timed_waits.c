/*
 * Waits that carry a timeout of their own: poll, ppoll, select, pselect,
 * epoll_wait, epoll_pwait2, sigtimedwait, clock_nanosleep.
 *
 * Invariants:
 * - The end time is fixed when the wrapper is called. A foreign EINTR or a
 *   re-check comes back here (RETURN_EINTR) and the time left is recomputed
 *   from the clock, so time spent in signal handlers counts against it and
 *   a retry never restarts the full timeout.
 * - A signal mask the caller passes never blocks the library's signal
 *   during the wait: it is removed from a copy (blocking it would make the
 *   call uninterruptible, silently).
 * - A wait that ends because its own timeout expired returns what the
 *   system call returns for that (0 ready descriptors, -EAGAIN for
 *   sigtimedwait, 0 for a sleep); -ETIMEDOUT always means a deadline.
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>

#define L(x) ((long)(x))
/* The kernel's sigset size: 64 signals, on every ABI the library builds. */
#define KERNEL_SIGSET_BYTES 8
#define NS_PER_S 1000000000u

enum timeout_form { TIMEOUT_TIMESPEC, TIMEOUT_MILLISECONDS };

/* One system call whose argument `slot` is its timeout. */
struct timed_call {
    long number;
    long args[6];
    int slot;
    enum timeout_form form;
    uint64_t end; /* on iio_now_ns's clock; IIO_NEVER: wait without end */
};

static bool malformed(const struct timespec *timeout) {
    return timeout != NULL &&
           (timeout->tv_sec < 0 || timeout->tv_nsec < 0 ||
            timeout->tv_nsec >= (long)NS_PER_S);
}

/* Callers have refused a malformed timeout (-EINVAL, as the kernel). */
static uint64_t end_after(const struct timespec *timeout) {
    if (timeout == NULL)
        return IIO_NEVER;
    uint64_t now = iio_now_ns();
    if ((uint64_t)timeout->tv_sec >= (IIO_NEVER - 1 - now) / NS_PER_S)
        return IIO_NEVER - 1; /* centuries: an end that never comes */
    return now + (uint64_t)timeout->tv_sec * NS_PER_S +
           (uint64_t)timeout->tv_nsec;
}

static struct timespec timespec_of(uint64_t ns) {
    return (struct timespec){.tv_sec = (time_t)(ns / NS_PER_S),
                             .tv_nsec = (long)(ns % NS_PER_S)};
}

static uint64_t time_left(uint64_t end) {
    uint64_t now = iio_now_ns();
    return end > now ? end - now : 0;
}

static long call_until_end(struct timed_call *call) {
    for (;;) {
        struct timespec left;
        if (call->end != IIO_NEVER) {
            uint64_t remaining = time_left(call->end);
            if (call->form == TIMEOUT_MILLISECONDS) {
                uint64_t ms = (remaining + 999999u) / 1000000u;
                call->args[call->slot] = ms > INT_MAX ? INT_MAX : L(ms);
            } else {
                left = timespec_of(remaining);
                call->args[call->slot] = L(&left);
            }
        }
        long *a = call->args;
        long r = iio_interruptible_syscall(RETURN_EINTR, call->number, a[0],
                                           a[1], a[2], a[3], a[4], a[5]);
        if (r != -EINTR)
            return r;
    }
}

/* The caller's mask without the library's signal, in `copy`. */
static const sigset_t *without_our_signal(const sigset_t *mask,
                                          sigset_t *copy) {
    if (mask == NULL)
        return NULL;
    *copy = *mask;
    if (iio_ensure_init() == 0)
        sigdelset(copy, atomic_load(&iio_signo));
    return copy;
}

/* ---- poll, ppoll ---------------------------------------------------------- */

int iio_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms) {
    struct timed_call call = {
        .number = SYS_ppoll,
        .args = {L(fds), L(nfds), 0, 0, KERNEL_SIGSET_BYTES, 0},
        .slot = 2,
        .form = TIMEOUT_TIMESPEC,
        .end = timeout_ms < 0 ? IIO_NEVER
                              : iio_now_ns() + (uint64_t)timeout_ms * 1000000u,
    };
    return (int)call_until_end(&call);
}

int iio_ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *timeout,
              const sigset_t *mask) {
    if (malformed(timeout))
        return -EINVAL;
    sigset_t copy;
    struct timed_call call = {
        .number = SYS_ppoll,
        .args = {L(fds), L(nfds), 0, L(without_our_signal(mask, &copy)),
                 KERNEL_SIGSET_BYTES, 0},
        .slot = 2,
        .form = TIMEOUT_TIMESPEC,
        .end = end_after(timeout),
    };
    return (int)call_until_end(&call);
}

/* ---- select, pselect ------------------------------------------------------ */

int iio_pselect(int nfds, fd_set *readable, fd_set *writable,
                fd_set *exceptional, const struct timespec *timeout,
                const sigset_t *mask) {
    if (malformed(timeout))
        return -EINVAL;
    sigset_t copy;
    /* pselect6's sixth argument: the mask and its size, together. */
    struct {
        const sigset_t *mask;
        size_t size;
    } mask_argument = {without_our_signal(mask, &copy), KERNEL_SIGSET_BYTES};
    struct timed_call call = {
        .number = SYS_pselect6,
        .args = {nfds, L(readable), L(writable), L(exceptional), 0,
                 L(&mask_argument)},
        .slot = 4,
        .form = TIMEOUT_TIMESPEC,
        .end = end_after(timeout),
    };
    return (int)call_until_end(&call);
}

int iio_select(int nfds, fd_set *readable, fd_set *writable,
               fd_set *exceptional, struct timeval *timeout) {
    struct timespec wait, *wait_for = NULL;
    if (timeout != NULL) {
        if (timeout->tv_sec < 0 || timeout->tv_usec < 0 ||
            timeout->tv_usec >= 1000000)
            return -EINVAL;
        wait = (struct timespec){timeout->tv_sec, timeout->tv_usec * 1000};
        wait_for = &wait;
    }
    uint64_t end = end_after(wait_for);
    int r = iio_pselect(nfds, readable, writable, exceptional, wait_for, NULL);
    if (timeout != NULL) { /* Linux's select reports the time left */
        uint64_t left = time_left(end);
        timeout->tv_sec = (time_t)(left / NS_PER_S);
        timeout->tv_usec = (suseconds_t)(left % NS_PER_S / 1000u);
    }
    return r;
}

/* ---- epoll ---------------------------------------------------------------- */

int iio_epoll_wait(int epfd, struct epoll_event *events, int max_events,
                   int timeout_ms) {
    struct timed_call call = {
        .number = SYS_epoll_pwait, /* the only form aarch64 and riscv64 have */
        .args = {epfd, L(events), max_events, -1, 0, KERNEL_SIGSET_BYTES},
        .slot = 3,
        .form = TIMEOUT_MILLISECONDS,
        .end = timeout_ms < 0 ? IIO_NEVER
                              : iio_now_ns() + (uint64_t)timeout_ms * 1000000u,
    };
    return (int)call_until_end(&call);
}

int iio_epoll_pwait2(int epfd, struct epoll_event *events, int max_events,
                     const struct timespec *timeout, const sigset_t *mask) {
#if defined(SYS_epoll_pwait2)
    if (malformed(timeout))
        return -EINVAL;
    sigset_t copy;
    struct timed_call call = {
        .number = SYS_epoll_pwait2,
        .args = {epfd, L(events), max_events, 0,
                 L(without_our_signal(mask, &copy)), KERNEL_SIGSET_BYTES},
        .slot = 3,
        .form = TIMEOUT_TIMESPEC,
        .end = end_after(timeout),
    };
    return (int)call_until_end(&call);
#else
    (void)epfd, (void)events, (void)max_events, (void)timeout, (void)mask;
    return -ENOSYS; /* headers older than Linux 5.11 */
#endif
}

/* ---- Signals -------------------------------------------------------------- */

int iio_sigtimedwait(const sigset_t *set, void *info,
                     const struct timespec *timeout) {
    if (set == NULL)
        return -EFAULT;
    if (malformed(timeout))
        return -EINVAL;
    /* Waiting for the library's own signal would swallow our requests. */
    if (iio_ensure_init() == 0 && sigismember(set, atomic_load(&iio_signo)))
        return -EINVAL;
    struct timed_call call = {
        .number = SYS_rt_sigtimedwait,
        .args = {L(set), L(info), 0, KERNEL_SIGSET_BYTES, 0, 0},
        .slot = 2,
        .form = TIMEOUT_TIMESPEC,
        .end = end_after(timeout),
    };
    return (int)call_until_end(&call);
}

int iio_sigwaitinfo(const sigset_t *set, void *info) {
    return iio_sigtimedwait(set, info, NULL);
}

/* ---- Sleeping ------------------------------------------------------------- */

/* a + b for non-negative times, saturating at the largest time_t (the
 * kernel caps a sleep at about 292 years anyway). */
static struct timespec time_after(struct timespec a, struct timespec b) {
    struct timespec sum = {.tv_nsec = a.tv_nsec + b.tv_nsec};
    time_t carry = sum.tv_nsec >= (long)NS_PER_S;
    sum.tv_nsec -= carry ? (long)NS_PER_S : 0;
    if (__builtin_add_overflow(a.tv_sec, b.tv_sec, &sum.tv_sec) ||
        __builtin_add_overflow(sum.tv_sec, carry, &sum.tv_sec))
        return (struct timespec){.tv_sec = (time_t)(~(uint64_t)0 >> 1)};
    return sum;
}

/* end - now, or zero once passed; both non-negative, so no overflow. */
static struct timespec time_until(struct timespec end, struct timespec now) {
    if (end.tv_sec < now.tv_sec ||
        (end.tv_sec == now.tv_sec && end.tv_nsec <= now.tv_nsec))
        return (struct timespec){0, 0};
    struct timespec left = {end.tv_sec - now.tv_sec, end.tv_nsec - now.tv_nsec};
    if (left.tv_nsec < 0) {
        left.tv_sec--;
        left.tv_nsec += (long)NS_PER_S;
    }
    return left;
}

/*
 * A relative sleep becomes an absolute one, so a retried EINTR sleeps until
 * the same end. On a clock that can be set (CLOCK_REALTIME, CLOCK_TAI) the
 * end is taken on CLOCK_MONOTONIC, as the kernel itself does for relative
 * timers: a relative sleep measures elapsed time, whatever the clock is set
 * to meanwhile (POSIX).
 */
int iio_clock_nanosleep(int clock, int flags, const struct timespec *request,
                        struct timespec *remaining) {
    if (request == NULL)
        return -EFAULT;
    if (malformed(request))
        return -EINVAL;
    bool relative = !(flags & TIMER_ABSTIME);
    if (!relative)
        return (int)iio_interruptible_syscall(RETRY_EINTR, SYS_clock_nanosleep,
                                              clock, TIMER_ABSTIME,
                                              L(request), 0, 0, 0);
    int measured_on =
        clock == CLOCK_REALTIME || clock == CLOCK_TAI ? CLOCK_MONOTONIC : clock;
    struct timespec now;
    if (clock_gettime(measured_on, &now) != 0)
        return -errno;
    struct timespec end = time_after(now, *request);
    int r = (int)iio_interruptible_syscall(RETRY_EINTR, SYS_clock_nanosleep,
                                           measured_on, TIMER_ABSTIME, L(&end),
                                           0, 0, 0);
    if (r < 0 && remaining != NULL) {
        clock_gettime(measured_on, &now);
        *remaining = time_until(end, now);
    }
    return r;
}

int iio_sleep_until(uint64_t end_ns) {
    struct timespec end = timespec_of(end_ns);
    return iio_clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end, NULL);
}
