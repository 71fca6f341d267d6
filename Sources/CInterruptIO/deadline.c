/*
 * Deadlines. Three can apply to one operation, and the tightest wins:
 *   - the thread's (iio_deadline_set, or another thread's
 *     iio_deadline_set_for), kept in the record until changed;
 *   - the call's (iio_call_deadline_swap), thread-local, set around one
 *     call by a wrapper and restored after it, so it never erases a change
 *     another thread made to the thread's deadline meanwhile;
 *   - the deadline source's (iio_deadline_source), a word read at each
 *     operation start: per-descriptor deadlines (Go's SetReadDeadline).
 * Each operation start stores the tightest as op_deadline_ns, which the
 * timer thread reads.
 *
 * The timer thread keeps each record scheduled at most once, at the
 * instant it will look at it next (scheduled_ns). Arming and disarming a
 * deadline are plain stores: most calls end before their deadline, and a
 * schedule that comes due for a record whose operation has moved on is
 * simply reviewed again (lazy cancellation).
 *
 * The one handshake, a Dekker pair (model: op_begin vs driver_review):
 *   operation start: store op_deadline_ns; full barrier (the op-begin CAS,
 *     or a seq_cst store when the deadline is lowered after the CAS); load
 *     scheduled_ns; notify the timer thread if the deadline is earlier.
 *   timer review: store scheduled_ns = IIO_NEVER; load the state; load
 *     op_deadline_ns; drop the record only when no operation is in flight.
 * One side always sees the other's store, so a deadline is never left
 * unscheduled while its operation runs. (The driver used to skip a record
 * whose deadline had already passed, trusting the next call's start to
 * fail it; a call that started meanwhile under a newer deadline was then
 * never reviewed: lost.)
 *
 * A deadline request is checked by its target: a thread interrupted with
 * reason DEADLINE re-computes its deadline and goes on if it has not
 * passed (moved later since). So the timer thread never needs to be exact
 * about which operation it interrupts, only never late.
 */
#include "internal.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

__thread uint64_t iio_tls_call_deadline
    __attribute__((tls_model("initial-exec"))) = IIO_NEVER;
__thread const _Atomic uint64_t *iio_tls_deadline_source
    __attribute__((tls_model("initial-exec")));

/* A deadline request the kernel refused to signal is tried again. */
#define REDELIVER_AFTER_NS 1000000u

static struct iio_record *_Atomic notified_stack;
static _Atomic uint64_t driver_sleeps_until = IIO_NEVER;
static _Atomic uint32_t wake_word;
/* Set by iio_timer_wake: the driver's next (or current) sleep returns at
 * once, whatever it sleeps toward. */
static _Atomic int wake_pending;
static _Atomic int driver_running;
static void (*_Atomic driver_starter)(void);
/* The Swift module's driver, when that module is linked in: it also serves
 * the Swift blocking pool, so it is preferred to the C one (driver.c). */
extern void iio_swift_start_timer_driver(void) __attribute__((weak));
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

/* ---- The thread's deadline -------------------------------------------- */

int iio_deadline_set(uint64_t deadline_ns) {
    int err = 0; /* set by iio_current_record when it fails */
    struct iio_record *rec = iio_current_record(&err);
    if (rec == NULL)
        return err;
    /* The owner's next operation start reads it in program order; no other
     * thread needs to see it at once (model: set_own). */
    atomic_store_explicit(&rec->thread_deadline_ns, deadline_ns,
                          memory_order_relaxed);
    return iio_driver_needed(deadline_ns);
}

uint64_t iio_deadline_get(void) {
    struct iio_record *rec = iio_tls_record;
    return rec ? atomic_load(&rec->thread_deadline_ns) : IIO_NEVER;
}

/*
 * Another thread's deadline. Stored under a hold (so a record that passed
 * to a new thread is never written), then, if an operation is in flight
 * with a later deadline, it is asked to re-check (model: set_for). A later
 * deadline needs no message: the timer reviews the operation at its old
 * deadline, and the target, re-checking, goes on. On the caller's own
 * handle no hold is taken: the caller cannot exit under itself, and a hold
 * there would deadlock a signal handler of its own that makes a call.
 */
int iio_deadline_set_for(iio_thread_t thread, uint64_t deadline_ns) {
    struct iio_record *rec = iio_record_of(thread);
    if (rec == NULL)
        return -EINVAL;
    uint64_t incarnation = iio_handle_incarnation(thread);
    bool own = rec == iio_tls_record;
    if (own) {
        if (iio_st_incarnation(atomic_load(&rec->state)) != incarnation)
            return -ESRCH;
    } else if (!iio_hold(rec, incarnation)) {
        return -ESRCH;
    }
    atomic_store(&rec->thread_deadline_ns, deadline_ns);
    uint64_t s = atomic_load(&rec->state);
    uint64_t op_deadline = atomic_load(&rec->op_deadline_ns);
    if (!own)
        iio_release(rec);
    if ((s & IIO_ST_IN_OP) && deadline_ns < op_deadline)
        iio_request(rec, incarnation, iio_st_generation(s),
                    IIO_REASON_RECHECK, 0);
    return iio_driver_needed(deadline_ns);
}

/* ---- The call's deadline ---------------------------------------------- */

int iio_call_deadline_swap(uint64_t deadline_ns, uint64_t *previous) {
    int err = 0; /* set by iio_current_record when it fails */
    if (iio_current_record(&err) == NULL)
        return err;
    *previous = iio_tls_call_deadline;
    iio_tls_call_deadline = deadline_ns;
    return iio_driver_needed(deadline_ns);
}

void iio_call_deadline_restore(uint64_t previous) {
    iio_tls_call_deadline = previous;
}

/* ---- Deadline sources -------------------------------------------------- */

void iio_deadline_word_store(uint64_t *word, uint64_t deadline_ns) {
    atomic_store((_Atomic uint64_t *)word, deadline_ns);
}

uint64_t iio_deadline_word_load(const uint64_t *word) {
    return atomic_load((const _Atomic uint64_t *)word);
}

int iio_deadline_source(const uint64_t *source) {
    int err = 0; /* set by iio_current_record when it fails */
    struct iio_record *rec = iio_current_record(&err);
    if (rec == NULL)
        return err;
    iio_source_swap(rec, (const _Atomic uint64_t *)source);
    return 0;
}

int iio_deadline_changed(iio_thread_t thread) {
    return iio_request(iio_record_of(thread), iio_handle_incarnation(thread),
                       IIO_ANY_OPERATION, IIO_REASON_RECHECK, 0);
}

/*
 * Every thread whose published source is `a` or `b`, and that is in a
 * call, is asked to re-check (model: source_scan). The caller stored the
 * word(s) seq_cst before calling; a thread publishes its source seq_cst
 * before its call starts and reads the word after. So either the scan sees
 * the source, and the request either finds the call in flight or precedes
 * its start (which then reads the new word), or the scan misses it, and
 * then the word's store precedes the thread's read of it. A record that
 * passed to another thread since costs that thread a re-check at most.
 */
int iio_source_recheck(const _Atomic uint64_t *a, const _Atomic uint64_t *b) {
    int asked = 0;
    uint32_t count = iio_record_count();
    for (uint32_t i = 0; i < count; i++) {
        struct iio_record *rec = iio_record_at(i);
        if (rec == NULL)
            break;
        const _Atomic uint64_t *source = atomic_load(&rec->deadline_source);
        if (source == NULL || (source != a && source != b))
            continue;
        uint64_t s = atomic_load(&rec->state);
        if ((s & IIO_ST_EXITED) || !(s & IIO_ST_IN_OP))
            continue; /* not in a call: its next start reads the word */
        if (iio_request(rec, iio_st_incarnation(s), IIO_ANY_OPERATION,
                        IIO_REASON_RECHECK, 0) != 0)
            asked++;
    }
    return asked;
}

int iio_deadline_source_changed(const uint64_t *source) {
    if (source == NULL)
        return -EINVAL;
    return iio_source_recheck((const _Atomic uint64_t *)source, NULL);
}

/* ---- The timer thread's side ------------------------------------------- */

static void wake_driver(void) {
    atomic_fetch_add(&wake_word, 1);
    syscall(SYS_futex, &wake_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

void iio_timer_set_starter(void (*start)(void)) {
    atomic_store(&driver_starter, start);
}

/*
 * Starts a driver if none runs (never started, or gone in a fork child):
 * the registered starter, else the Swift module's if linked in, else the C
 * driver. 0 when one runs, a negative errno when none could be started.
 */
int iio_timer_ensure_driver(void) {
    if (__builtin_expect(
            atomic_load_explicit(&driver_running, memory_order_relaxed), 1))
        return 0;
    void (*start)(void) =
        atomic_load_explicit(&driver_starter, memory_order_relaxed);
    if (start == NULL)
        start = iio_swift_start_timer_driver; /* NULL without Swift */
    if (start != NULL) {
        start();
    } else {
        int err = iio_c_driver_start();
        if (err < 0)
            return err;
    }
    return atomic_load(&driver_running) ? 0 : -EAGAIN;
}

void iio_timer_notify(struct iio_record *rec, uint64_t deadline_ns) {
    if (__builtin_expect(
            !atomic_load_explicit(&driver_running, memory_order_relaxed), 0) &&
        iio_timer_ensure_driver() < 0)
        return; /* no driver: entry checks only (the setter was told) */
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

void iio_timer_wake(void) {
    atomic_store(&wake_pending, 1);
    wake_driver();
}

int iio_driver_needed(uint64_t deadline_ns) {
    if (__builtin_expect(deadline_ns == IIO_NEVER ||
                             atomic_load_explicit(&driver_running,
                                                  memory_order_relaxed),
                         1))
        return 0;
    return iio_timer_ensure_driver() < 0 && !iio_deadline_passed(deadline_ns);
}

void iio_timer_release_driver(void) { atomic_store(&driver_running, 0); }

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
void iio_timer_fork_child(void) {
    atomic_store(&driver_running, 0);
    atomic_store(&notified_stack, NULL);
    taken = NULL;
    atomic_store(&driver_sleeps_until, IIO_NEVER);
    atomic_store(&wake_pending, 0);
}

int64_t iio_timer_take_notified(void) {
    if (taken == NULL)
        taken = atomic_exchange(&notified_stack, NULL);
    struct iio_record *rec = taken;
    if (rec == NULL)
        return -1;
    taken = atomic_load_explicit(&rec->next_queued, memory_order_relaxed);
    /* Cleared before the driver reviews the record: a later notify pushes
     * it again rather than being lost. */
    atomic_store(&rec->queued, 0);
    return rec->index;
}

uint64_t iio_timer_review(uint32_t index, uint64_t now_ns) {
    struct iio_record *rec = iio_record_at(index);
    if (rec == NULL)
        return IIO_NEVER;
    atomic_store(&rec->scheduled_ns, IIO_NEVER); /* model: review_unschedule */
    for (;;) {
        uint64_t s = atomic_load(&rec->state); /* model: review_state */
        if (!(s & IIO_ST_IN_OP) || (s & IIO_ST_EXITED))
            return IIO_NEVER; /* the next op begin sees NEVER and notifies */
        uint64_t deadline = atomic_load(&rec->op_deadline_ns);
        if (deadline > now_ns) {
            if (deadline != IIO_NEVER)
                atomic_store(&rec->scheduled_ns, deadline); /* model: review_schedule */
            return deadline;
        }
        if ((s & IIO_ST_CANCEL) && !(s & IIO_ST_UNDELIVERED))
            return IIO_NEVER; /* interrupted already; a re-begin notifies */
        /* model: review_fire */
        int r = iio_request(rec, iio_st_incarnation(s), iio_st_generation(s),
                            IIO_REASON_DEADLINE, 0);
        if (r == -EAGAIN)
            return now_ns + REDELIVER_AFTER_NS; /* the signal queue is full */
        if (r != 0)
            return IIO_NEVER; /* sent (1) or exited (-ESRCH) */
        /* That operation ended; look at whatever runs now. */
    }
}

void iio_timer_sleep(uint64_t until_ns) {
    uint32_t seen = atomic_load(&wake_word);
    atomic_store(&driver_sleeps_until, until_ns);
    /* A notify that raced with the store above either saw the new target
     * (and wakes us) or pushed a record that is still waiting: look. */
    if (atomic_load(&notified_stack) != NULL || taken != NULL ||
        atomic_exchange(&wake_pending, 0)) {
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
