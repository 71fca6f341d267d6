/*
 * Deadlines. The thread's deadline lives in its record; the timer driver
 * keeps each record filed at most once, at the instant it will look at it
 * next (filed_ns). Arming and disarming are plain stores: most calls end
 * before their deadline, and a filing that comes due for a record whose
 * deadline has moved later is simply filed again (lazy cancellation).
 *
 * The one handshake: a call that starts under a deadline earlier than
 * filed_ns must tell the driver. Start of call: store deadline_ns, a full
 * barrier (the seq_cst CAS that begins the operation; with a deadline
 * source, the seq_cst store itself, which comes after the CAS), load
 * filed_ns. Driver: store filed_ns (seq_cst), load deadline_ns. One of the
 * two sees the other's store, so a deadline is never left unfiled.
 */
#include "internal.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define RESEND_AFTER_NS 20000u /* portable entry: re-send a lost request */

static struct iio_record *_Atomic notified_stack;
static _Atomic uint64_t driver_sleeps_until = IIO_NEVER;
static _Atomic uint32_t wake_word;
static _Atomic int driver_running;
/* The driver's: popped one at a time from a list taken whole off the stack. */
static struct iio_record *taken;



/*
 * CLOCK_MONOTONIC_COARSE is the monotonic clock as of the last tick: never
 * ahead of CLOCK_MONOTONIC and behind it by less than a tick. Reading it
 * costs a fifth of a precise read here, so a call starting under a deadline
 * that is clearly past (deadline <= coarse) or clearly ahead (deadline >
 * coarse + two ticks) is decided without the precise clock; only a deadline
 * within a couple of ticks of now pays for the precise read.
 */
static _Atomic uint64_t coarse_margin_ns; /* 0: not measured yet */

static uint64_t read_clock(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t iio_now_ns(void) { return read_clock(CLOCK_MONOTONIC); }

bool iio_deadline_passed(uint64_t deadline_ns) {
    uint64_t margin = atomic_load_explicit(&coarse_margin_ns,
                                           memory_order_relaxed);
    if (__builtin_expect(margin == 0, 0)) {
        struct timespec res;
        if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) == 0 &&
            res.tv_sec == 0 && res.tv_nsec > 0)
            margin = 2 * (uint64_t)res.tv_nsec;
        else
            margin = UINT64_MAX / 2; /* no coarse clock: always precise */
        atomic_store_explicit(&coarse_margin_ns, margin, memory_order_relaxed);
    }
    uint64_t coarse = read_clock(CLOCK_MONOTONIC_COARSE);
    if (deadline_ns <= coarse)
        return true;
    if (deadline_ns - coarse > margin)
        return false;
    return iio_now_ns() >= deadline_ns;
}

int iio_deadline_set(uint64_t deadline_ns) {
    int err;
    struct iio_record *rec = iio_current_record(&err);
    if (rec == NULL)
        return err;
    atomic_store_explicit(&rec->deadline_ns, deadline_ns,
                          memory_order_relaxed);
    return 0;
}

int iio_deadline_swap(uint64_t deadline_ns, uint64_t *previous) {
    int err;
    struct iio_record *rec = iio_current_record(&err);
    if (rec == NULL)
        return err;
    *previous = atomic_load_explicit(&rec->deadline_ns, memory_order_relaxed);
    atomic_store_explicit(&rec->deadline_ns, deadline_ns, memory_order_relaxed);
    return !atomic_load_explicit(&driver_running, memory_order_relaxed);
}

uint64_t iio_deadline_get(void) {
    struct iio_record *rec = iio_tls_record;
    return rec ? atomic_load_explicit(&rec->deadline_ns, memory_order_relaxed)
               : IIO_NEVER;
}

int iio_deadline_set_for(iio_thread_t thread, uint64_t deadline_ns) {
    struct iio_record *rec = iio_record_of(thread);
    if (rec == NULL)
        return -EINVAL;
    uint64_t incarnation = iio_handle_incarnation(thread);
    /* Held, the record cannot pass to a new thread while we write it. */
    if (!iio_hold(rec, incarnation))
        return -ESRCH;
    atomic_store(&rec->deadline_ns, deadline_ns);
    uint64_t s = atomic_load(&rec->state);
    iio_release(rec);
    if (deadline_ns == IIO_NEVER || !(s & IIO_ST_IN_OP))
        return 0; /* the next call's start does the rest */
    if (iio_deadline_passed(deadline_ns))
        iio_request(rec, incarnation, iio_st_generation(s),
                    IIO_REASON_DEADLINE, false, true);
    else if (deadline_ns < atomic_load(&rec->filed_ns))
        iio_timer_notify(rec, deadline_ns);
    return 0;
}

void iio_deadline_word_store(uint64_t *word, uint64_t deadline_ns) {
    atomic_store((_Atomic uint64_t *)word, deadline_ns);
}

uint64_t iio_deadline_word_load(const uint64_t *word) {
    return atomic_load((const _Atomic uint64_t *)word);
}

int iio_deadline_source(const uint64_t *source) {
    int err;
    struct iio_record *rec = iio_current_record(&err);
    if (rec == NULL)
        return err;
    rec->deadline_source = (const _Atomic uint64_t *)source;
    if (source == NULL)
        atomic_store_explicit(&rec->deadline_ns, IIO_NEVER,
                              memory_order_relaxed);
    return 0;
}

int iio_deadline_changed(iio_thread_t thread) {
    return iio_request(iio_record_of(thread), thread.incarnation, UINT64_MAX,
                       IIO_REASON_RECHECK, false, true);
}

uint64_t iio_thread_pack(iio_thread_t thread) {
    struct iio_record *rec = iio_record_of(thread);
    if (rec == NULL)
        return 0;
    return ((uint64_t)1 << 63) | ((thread.incarnation & 0xffff) << 32) |
           rec->index;
}

iio_thread_t iio_thread_unpack(uint64_t packed) {
    iio_thread_t t = {0, 0};
    if (packed >> 63) {
        t.record = iio_record_at((uint32_t)packed);
        t.incarnation = (packed >> 32) & 0xffff;
    }
    return t;
}

static void wake_driver(void) {
    atomic_fetch_add(&wake_word, 1);
    syscall(SYS_futex, &wake_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

void iio_timer_notify(struct iio_record *rec, uint64_t deadline_ns) {
    if (!atomic_load_explicit(&driver_running, memory_order_relaxed))
        return;
    if (atomic_exchange(&rec->queued, 1) == 0) {
        struct iio_record *head = atomic_load(&notified_stack);
        do {
            atomic_store_explicit(&rec->next_queued, head,
                                  memory_order_relaxed);
        } while (!atomic_compare_exchange_weak(&notified_stack, &head, rec));
    }
    if (deadline_ns < atomic_load(&driver_sleeps_until))
        wake_driver();
}

int iio_timer_claim_driver(void) {
    if (atomic_load_explicit(&driver_running, memory_order_relaxed))
        return 0;
    int expected = 0;
    return atomic_compare_exchange_strong(&driver_running, &expected, 1);
}

void iio_timer_driver_started(void) {
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* wake at the very instant */
}

/* In the fork child: the driver thread is gone and so is its wheel. */
void iio_timer_after_fork(void) {
    atomic_store(&driver_running, 0);
    atomic_store(&notified_stack, NULL);
    taken = NULL;
    atomic_store(&driver_sleeps_until, IIO_NEVER);
}


int64_t iio_timer_take_notified(void) {
    if (taken == NULL)
        taken = atomic_exchange(&notified_stack, NULL);
    struct iio_record *rec = taken;
    if (rec == NULL)
        return -1;
    taken = atomic_load_explicit(&rec->next_queued, memory_order_relaxed);
    /* Cleared before the driver reads deadline_ns: a later notify pushes
     * the record again rather than being lost. */
    atomic_store(&rec->queued, 0);
    return rec->index;
}

uint64_t iio_timer_file(uint32_t index, uint64_t at_ns) {
    struct iio_record *rec = iio_record_at(index);
    if (rec == NULL)
        return IIO_NEVER;
    atomic_store(&rec->filed_ns, at_ns);
    return atomic_load(&rec->deadline_ns);
}

uint64_t iio_timer_expire(uint32_t index, uint64_t now_ns) {
    struct iio_record *rec = iio_record_at(index);
    if (rec == NULL)
        return IIO_NEVER;
    uint64_t s = atomic_load(&rec->state);
    uint64_t deadline = atomic_load(&rec->deadline_ns);
    if (deadline > now_ns)
        return deadline; /* moved later (or IIO_NEVER: disarmed) */
    if (!(s & IIO_ST_IN_OP) || (s & IIO_ST_EXITED))
        return IIO_NEVER; /* the next call's start fails it at once */
    uint64_t incarnation = iio_st_incarnation(s);
    uint64_t generation = iio_st_generation(s);
    bool portable = atomic_load_explicit(&iio_mode, memory_order_relaxed) ==
                    IIO_ENTRY_PORTABLE;
    if (s & IIO_ST_CANCEL) {
        /* Requested already and still inside: only the portable path can
         * have lost the signal in its entry gap. */
        if (portable && iio_resend(rec, incarnation, generation))
            return now_ns + RESEND_AFTER_NS;
        return IIO_NEVER;
    }
    if (iio_request(rec, incarnation, generation, IIO_REASON_DEADLINE, false,
                    false) == 1 &&
        portable)
        return now_ns + RESEND_AFTER_NS;
    return IIO_NEVER;
}

void iio_timer_sleep(uint64_t until_ns) {
    uint32_t seen = atomic_load(&wake_word);
    atomic_store(&driver_sleeps_until, until_ns);
    /* A notify that raced with the store above either saw the new target
     * (and wakes us) or pushed a record that is still waiting: look. */
    if (atomic_load(&notified_stack) != NULL || taken != NULL) {
        atomic_store(&driver_sleeps_until, 0);
        return;
    }
    struct timespec ts, *timeout = NULL;
    if (until_ns != IIO_NEVER) {
        ts.tv_sec = (time_t)(until_ns / 1000000000u);
        ts.tv_nsec = (long)(until_ns % 1000000000u);
        timeout = &ts;
    }
    syscall(SYS_futex, &wake_word, FUTEX_WAIT_BITSET_PRIVATE, seen, timeout,
            NULL, FUTEX_BITSET_MATCH_ANY);
    /* Until the driver sleeps again, every notify must not wait on it. */
    atomic_store(&driver_sleeps_until, 0);
}
