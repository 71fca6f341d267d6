/*
 * Requests: cancel, deadline, re-check. A request is recorded with one CAS
 * on the target's state word that also takes a hold; the target cannot
 * leave the operation or exit while any hold is taken, so between that CAS
 * and the end of the send the kernel thread id is the one of the thread
 * inside the named operation. That is what makes a raw tid safe (glibc's
 * pthread_kill gets the same guarantee from the thread's exit lock).
 *
 * Delivery. A PC-window operation cannot lose the signal (the handler
 * redirects a PC inside the window; one outside it is before the check or
 * after the call; a nested application handler is covered by the handler's
 * deferral, signal.c). A portable operation can: a signal that lands
 * between the flag check and the syscall is spent. So a request to a
 * portable operation arms the target's resend timer, a per-thread POSIX
 * timer that signals that thread every RESEND_INTERVAL_NS until op end
 * disarms it. A timer never has more than one signal queued, so a thread
 * that blocks our signal is not flooded, and the request lasts exactly as
 * long as the operation, however long the target sits in a handler.
 */
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define RESEND_INTERVAL_NS 200000L /* 200 µs */

bool iio_hold(struct iio_record *rec, uint64_t incarnation) {
    uint64_t s = atomic_load(&rec->state);
    for (unsigned spins = 0;;) {
        if ((s & IIO_ST_EXITED) || iio_st_incarnation(s) != incarnation)
            return false;
        if (iio_st_holders(s) == IIO_ST_HOLDERS_MAX) {
            iio_relax(&spins); /* 63 holders at once: wait for one */
            s = atomic_load(&rec->state);
            continue;
        }
        /* model: hold */
        if (atomic_compare_exchange_weak(&rec->state, &s, s + IIO_ST_HOLD_ONE))
            return true;
    }
}

void iio_release(struct iio_record *rec) {
    atomic_fetch_sub(&rec->state, IIO_ST_HOLD_ONE); /* model: release */
}

/* The record's resend timer, made on first use; -1 if the kernel refuses
 * (RLIMIT_SIGPENDING: each POSIX timer reserves a queued signal). Called
 * with the record held. */
static int resend_timer_of(struct iio_record *rec) {
    int id = atomic_load(&rec->resend_timer);
    if (id >= 0)
        return id;
    struct sigevent event;
    memset(&event, 0, sizeof event);
    event.sigev_notify = SIGEV_THREAD_ID;
    event.sigev_signo = atomic_load(&iio_signo);
    event.sigev_value.sival_ptr = iio_signal_cookie();
    event._sigev_un._tid = atomic_load(&rec->tid);
    int made = -1;
    if (syscall(SYS_timer_create, CLOCK_MONOTONIC, &event, &made) != 0)
        return -1;
    int expected = -1;
    if (atomic_compare_exchange_strong(&rec->resend_timer, &expected, made))
        return made;
    syscall(SYS_timer_delete, made); /* another requester made one first */
    return expected;
}

static int set_resend_timer(int id, long first_ns, long interval_ns) {
    struct itimerspec spec = {{0, interval_ns}, {0, first_ns}};
    return syscall(SYS_timer_settime, id, 0, &spec, NULL) == 0 ? 0 : -errno;
}

/* Interrupts the held record's operation; 0 or a negative errno. */
static int interrupt(struct iio_record *rec, uint64_t state) {
    if (state & IIO_ST_PORTABLE) {
        int id = resend_timer_of(rec);
        if (id >= 0 && set_resend_timer(id, 1, RESEND_INTERVAL_NS) == 0)
            return 0;
        /* No timer to be had: one signal; a loss in the entry gap is then
         * possible, and only then (documented with RLIMIT_SIGPENDING). */
    }
    return iio_send_signal(rec);
}

void iio_op_cleanup(struct iio_record *rec, uint64_t final) {
    /* A cancel reached this operation under a shield: kept for the first
     * call after it, whether the call went on or ended with its result
     * (shield.c). */
    if (iio_st_reason(final) == IIO_REASON_CANCEL && iio_tls_shield_depth != 0)
        atomic_fetch_or(&rec->state, IIO_ST_KEPT); /* model: keep */
    int id = atomic_load_explicit(&rec->resend_timer, memory_order_relaxed);
    if (id >= 0 && (final & IIO_ST_PORTABLE))
        set_resend_timer(id, 0, 0);
    if (iio_tls_signal_deferred) {
        iio_tls_signal_deferred = 0;
        sigset_t ours;
        sigemptyset(&ours);
        sigaddset(&ours, atomic_load(&iio_signo));
        pthread_sigmask(SIG_UNBLOCK, &ours, NULL);
    }
}

void iio_resend_timer_delete(struct iio_record *rec) {
    int id = atomic_exchange(&rec->resend_timer, -1);
    if (id >= 0)
        syscall(SYS_timer_delete, id);
}

int iio_request(struct iio_record *rec, uint64_t incarnation,
                uint64_t generation, enum iio_reason reason, unsigned flags) {
    if (rec == NULL)
        return -EINVAL;
    uint64_t add = 0;
    if (flags & IIO_REQUEST_STICKY)
        add |= IIO_ST_STICKY;
    uint64_t s = atomic_load(&rec->state);
    uint64_t requested;
    for (;;) {
        if ((s & IIO_ST_EXITED) || iio_st_incarnation(s) != incarnation)
            return -ESRCH;
        uint64_t next = s | add;
        if (flags & IIO_REQUEST_GROUP)
            next += IIO_ST_GROUP_ONE; /* group.c keeps it below 256 */
        bool in_flight = (s & IIO_ST_IN_OP) &&
                         (generation == IIO_ANY_OPERATION ||
                          iio_st_generation(s) == generation);
        if (!in_flight) {
            /* model: request_idle (marks only; the next op begin sees them) */
            if (next == s ||
                atomic_compare_exchange_weak(&rec->state, &s, next))
                return 0;
            continue;
        }
        if (iio_st_holders(s) == IIO_ST_HOLDERS_MAX) {
            unsigned spins = 0;
            iio_relax(&spins);
            s = atomic_load(&rec->state);
            continue;
        }
        if (s & IIO_ST_CANCEL) {
            /* Interrupted already: the target reads the reason at op end,
             * so a stronger reason is upgraded in place; no second signal,
             * unless the first one never left (UNDELIVERED). */
            if (reason > iio_st_reason(s))
                next = (next & ~IIO_ST_REASON_MASK) |
                       ((uint64_t)reason << IIO_ST_REASON_SHIFT);
            if (reason == IIO_REASON_CANCEL)
                next |= IIO_ST_CLEANUP; /* op end looks at a shield */
            if (s & IIO_ST_UNDELIVERED) {
                requested = (next & ~IIO_ST_UNDELIVERED) + IIO_ST_HOLD_ONE;
                /* model: request_redeliver */
                if (atomic_compare_exchange_weak(&rec->state, &s, requested))
                    break;
                continue;
            }
            /* model: request_upgrade */
            if (next == s ||
                atomic_compare_exchange_weak(&rec->state, &s, next))
                return 1;
            continue;
        }
        requested = ((next & ~IIO_ST_REASON_MASK) | IIO_ST_CANCEL |
                     ((uint64_t)reason << IIO_ST_REASON_SHIFT)) +
                    IIO_ST_HOLD_ONE;
        /* Op end's slow work: the resend timer to disarm, or a cancel to
         * keep under a shield. */
        if ((s & IIO_ST_PORTABLE) || reason == IIO_REASON_CANCEL)
            requested |= IIO_ST_CLEANUP;
        /* model: request_in_flight (CANCEL, REASON and a hold in one CAS) */
        if (atomic_compare_exchange_weak(&rec->state, &s, requested))
            break;
    }
    int sent = interrupt(rec, requested); /* model: send */
    if (sent != 0)
        atomic_fetch_or(&rec->state, IIO_ST_UNDELIVERED); /* still held */
    iio_release(rec);                     /* model: release */
    return sent == 0 ? 1 : sent;
}

int iio_ungroup(struct iio_record *rec, uint64_t incarnation) {
    uint64_t s = atomic_load(&rec->state);
    for (;;) {
        if ((s & IIO_ST_EXITED) || iio_st_incarnation(s) != incarnation)
            return -ESRCH;
        if (iio_st_groups(s) == 0)
            return 0; /* cannot happen while group.c counts right */
        /* model: ungroup */
        if (atomic_compare_exchange_weak(&rec->state, &s,
                                         s - IIO_ST_GROUP_ONE))
            return 0;
    }
}

int iio_cancel(iio_thread_t thread) {
    return iio_request(iio_record_of(thread), iio_handle_incarnation(thread),
                       IIO_ANY_OPERATION, IIO_REASON_CANCEL, 0);
}

int iio_cancel_sticky(iio_thread_t thread) {
    return iio_request(iio_record_of(thread), iio_handle_incarnation(thread),
                       IIO_ANY_OPERATION, IIO_REASON_CANCEL,
                       IIO_REQUEST_STICKY);
}

int iio_clear_cancel(iio_thread_t thread) {
    struct iio_record *rec = iio_record_of(thread);
    if (rec == NULL)
        return -EINVAL;
    uint64_t incarnation = iio_handle_incarnation(thread);
    uint64_t s = atomic_load(&rec->state);
    for (;;) {
        if ((s & IIO_ST_EXITED) || iio_st_incarnation(s) != incarnation)
            return -ESRCH;
        /* model: clear_sticky (groups' cancels are not ours to clear; a
         * cancel a shield kept is, so that a thread reused for other work,
         * a pool's, starts clean) */
        uint64_t clear = IIO_ST_STICKY | IIO_ST_KEPT;
        if (!(s & clear) ||
            atomic_compare_exchange_weak(&rec->state, &s, s & ~clear))
            return 0;
    }
}

int iio_self_cancelled(void) {
    struct iio_record *rec = iio_tls_record;
    return rec && (atomic_load(&rec->state) & IIO_ST_CANCELLED_BITS) ? 1 : 0;
}
