/*
 * Cancel requests. A request is recorded with one CAS on the target's state
 * word that also sets HELD; the target cannot leave the operation or exit
 * until HELD is cleared again, so between that CAS and the end of tgkill the
 * kernel thread id is the one of the thread inside the named operation. That is what makes it safe to use a raw tid (glibc's
 * pthread_kill gets the same guarantee from the thread's exit lock).
 */
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PORTABLE_FIRST_RESEND_NS 10000L
#define PORTABLE_MAX_RESEND_NS 1000000L
#define PORTABLE_GIVE_UP_NS 1000000000L

static void send_signal(struct iio_record *rec) {
    int pid = atomic_load_explicit(&iio_cached_pid, memory_order_relaxed);
    int tid = atomic_load_explicit(&rec->tid, memory_order_relaxed);
    int signo = atomic_load_explicit(&iio_signo, memory_order_relaxed);
    for (int attempt = 0; attempt < 100; attempt++) {
        if (syscall(SYS_tgkill, pid, tid, signo) == 0 || errno != EAGAIN)
            return;
        sched_yield(); /* the real-time signal queue is full: let it drain */
    }
}

bool iio_hold(struct iio_record *rec, uint64_t incarnation) {
    uint64_t s = atomic_load(&rec->state);
    for (unsigned spins = 0;;) {
        if ((s & IIO_ST_EXITED) || iio_st_incarnation(s) != incarnation)
            return false;
        if (s & IIO_ST_HELD) {
            iio_relax(&spins);
            s = atomic_load(&rec->state);
            continue;
        }
        if (atomic_compare_exchange_weak(&rec->state, &s, s | IIO_ST_HELD))
            return true;
    }
}

void iio_release(struct iio_record *rec) {
    atomic_fetch_and(&rec->state, ~IIO_ST_HELD);
}

/* Sends once, holding the record; false when the operation already ended. */
bool iio_resend(struct iio_record *rec, uint64_t incarnation,
                             uint64_t generation) {
    uint64_t s = atomic_load(&rec->state);
    for (;;) {
        bool same_op = (s & IIO_ST_IN_OP) && !(s & IIO_ST_EXITED) &&
                       iio_st_incarnation(s) == incarnation &&
                       iio_st_generation(s) == generation;
        if (!same_op)
            return false;
        if (s & IIO_ST_HELD)
            return true; /* another canceller is sending right now */
        if (atomic_compare_exchange_weak(&rec->state, &s,
                                         s | IIO_ST_HELD))
            break;
    }
    send_signal(rec);
    atomic_fetch_and(&rec->state, ~IIO_ST_HELD);
    return true;
}

/*
 * Portable entry has a gap between the flag check and the syscall; a signal
 * that lands there is spent. So the canceller sends again, backing off,
 * until the target has left the operation (or a second has passed: the
 * target may be in an uninterruptible sleep or have blocked our signal).
 */
static void resend_until_acknowledged(struct iio_record *rec,
                                      uint64_t incarnation,
                                      uint64_t generation) {
    long pause_ns = PORTABLE_FIRST_RESEND_NS;
    for (long waited = 0; waited < PORTABLE_GIVE_UP_NS; waited += pause_ns) {
        struct timespec pause = {0, pause_ns};
        nanosleep(&pause, NULL);
        if (!iio_resend(rec, incarnation, generation))
            return;
        if (pause_ns < PORTABLE_MAX_RESEND_NS)
            pause_ns *= 2;
    }
}

int iio_request(struct iio_record *rec, uint64_t incarnation,
                uint64_t gen_or_any, int reason, bool sticky,
                bool wait_for_ack) {
    if (rec == NULL)
        return -EINVAL;
    incarnation &= IIO_ST_INC_MASK >> IIO_ST_INC_SHIFT; /* as the word holds it */
    uint64_t s = atomic_load(&rec->state);
    for (;;) {
        if ((s & IIO_ST_EXITED) || iio_st_incarnation(s) != incarnation)
            return -ESRCH;
        uint64_t sticky_bit = sticky ? IIO_ST_STICKY : 0;
        bool in_flight = (s & IIO_ST_IN_OP) &&
                         (gen_or_any == UINT64_MAX ||
                          iio_st_generation(s) == gen_or_any);
        if (!in_flight || (s & IIO_ST_CANCEL)) {
            /* Nothing to signal: idle, another op, or already requested. */
            if ((s & sticky_bit) == sticky_bit ||
                atomic_compare_exchange_weak(&rec->state, &s, s | sticky_bit))
                return in_flight ? 1 : 0;
            continue;
        }
        uint64_t requested = s | sticky_bit | IIO_ST_CANCEL |
                             ((uint64_t)reason << IIO_ST_REASON_SHIFT) |
                             IIO_ST_HELD;
        if (atomic_compare_exchange_weak(&rec->state, &s, requested))
            break;
    }
    send_signal(rec);
    atomic_fetch_and(&rec->state, ~IIO_ST_HELD);
    if (wait_for_ack && atomic_load_explicit(&iio_mode, memory_order_relaxed) ==
                            IIO_ENTRY_PORTABLE)
        resend_until_acknowledged(rec, incarnation, iio_st_generation(s));
    return 1;
}

int iio_cancel(iio_thread_t thread) {
    return iio_request(iio_record_of(thread), thread.incarnation, UINT64_MAX,
                       IIO_REASON_CANCEL, false, true);
}

int iio_cancel_sticky(iio_thread_t thread) {
    return iio_request(iio_record_of(thread), thread.incarnation, UINT64_MAX,
                       IIO_REASON_CANCEL, true, true);
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
        if (!(s & IIO_ST_STICKY) ||
            atomic_compare_exchange_weak(&rec->state, &s, s & ~IIO_ST_STICKY))
            return 0;
    }
}

int iio_self_cancelled(void) {
    struct iio_record *rec = iio_tls_record;
    return rec && (atomic_load(&rec->state) & IIO_ST_STICKY) ? 1 : 0;
}
