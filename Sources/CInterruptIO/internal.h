/* Internal to CInterruptIO: the per-thread record and its state word. */
#ifndef INTERRUPTIO_INTERNAL_H
#define INTERRUPTIO_INTERNAL_H

#include "interruptio.h"
#include <stdatomic.h>
#include <stdbool.h>
#include <sched.h>

#if defined(__SANITIZE_THREAD__)
#define IIO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define IIO_TSAN 1
#endif
#endif

#if (defined(__x86_64__) || defined(__aarch64__)) && !defined(IIO_TSAN) && \
    !defined(IIO_NO_PC_WINDOW)
#define IIO_HAVE_PC_WINDOW 1
#endif

/*
 * The state word, one per thread, written by its owner and by cancellers.
 *
 *   bit  0      IN_OP       the owner is inside an interruptible operation
 *   bit  1      CANCEL      a request is pending for the current operation;
 *                           the asm stub tests this bit (low byte, bit 1)
 *   bits 2-3    REASON      why: IIO_REASON_CANCEL, IIO_REASON_DEADLINE, or
 *                           IIO_REASON_RECHECK (the deadline source changed:
 *                           re-read it and go on)
 *   bit  4      HELD        another thread holds the record: a canceller
 *                           between its CAS and the end of tgkill, or a
 *                           deadline setter; the owner may not leave the
 *                           operation or exit while it is set, so the tid
 *                           and the incarnation stay what the holder saw
 *   bit  5      EXITED      the record is bound to no thread
 *   bit  6      STICKY      fail every operation until cleared
 *   bit  7      unused
 *   bits 8-23   INCARNATION bumped when the thread exits; a handle names it
 *   bits 24-63  GENERATION  bumped when an operation begins; a deadline
 *                           request names it
 *
 * Invariants:
 * - Only the owner sets IN_OP or bumps GENERATION (op begin), and only the
 *   owner clears IN_OP, CANCEL and REASON (op end), never while HELD.
 * - A canceller sets CANCEL|REASON|HELD in one CAS that also checks
 *   IN_OP, the incarnation and, for a deadline, the generation; so a request
 *   never outlives the operation it names, and a signal is only ever sent
 *   to a thread that is inside that operation.
 */
#define IIO_ST_IN_OP ((uint64_t)1 << 0)
#define IIO_ST_CANCEL ((uint64_t)1 << 1)
#define IIO_ST_REASON_SHIFT 2
#define IIO_ST_REASON_MASK ((uint64_t)3 << IIO_ST_REASON_SHIFT)
#define IIO_ST_HELD ((uint64_t)1 << 4)
#define IIO_ST_EXITED ((uint64_t)1 << 5)
#define IIO_ST_STICKY ((uint64_t)1 << 6)
#define IIO_ST_INC_SHIFT 8
#define IIO_ST_INC_MASK ((uint64_t)0xffff << IIO_ST_INC_SHIFT)
#define IIO_ST_GEN_SHIFT 24
#define IIO_ST_GEN_ONE ((uint64_t)1 << IIO_ST_GEN_SHIFT)

#define IIO_REASON_CANCEL 1
#define IIO_REASON_DEADLINE 2
#define IIO_REASON_RECHECK 3

static inline uint64_t iio_st_incarnation(uint64_t s) {
    return (s & IIO_ST_INC_MASK) >> IIO_ST_INC_SHIFT;
}
static inline uint64_t iio_st_generation(uint64_t s) {
    return s >> IIO_ST_GEN_SHIFT;
}

struct iio_record {
    _Atomic uint64_t state;
    _Atomic int tid;              /* valid while not EXITED */
    uint32_t index;               /* position in the registry, never changes */
    struct iio_record *next_free; /* under the registry lock */
    /* The thread's deadline (IIO_NEVER for none); see deadline.c. */
    _Atomic uint64_t deadline_ns;
    /* When the timer thread will next look at this record (IIO_NEVER: it
     * will not). Written only by the timer thread. */
    _Atomic uint64_t filed_ns;
    struct iio_record *_Atomic next_queued; /* the timer's notify stack */
    _Atomic int queued;
    /* Owner-only: where each operation start reads its deadline from
     * (NULL: deadline_ns as set). Never dereferenced by another thread. */
    const _Atomic uint64_t *deadline_source;
};
_Static_assert(sizeof(struct iio_record) <= 64, "one cache line a record");

/* signal.c */
extern _Atomic int iio_signo;        /* 0 until initialised */
extern _Atomic int iio_mode;         /* IIO_ENTRY_* */
extern _Atomic int iio_cached_pid;   /* updated in the fork child */
int iio_ensure_init(void);

/* thread.c */
extern __thread struct iio_record *iio_tls_record
    __attribute__((tls_model("initial-exec")));
int iio_bind_slow(struct iio_record **out);
struct iio_record *iio_record_at(uint32_t index);

/* One step of waiting for a holder to let go of the record. */
static inline void iio_relax(unsigned *spins) {
    if ((*spins)++ < 64) {
#if defined(__x86_64__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ volatile("yield");
#endif
    } else {
        sched_yield();
    }
}

static inline struct iio_record *iio_record_of(iio_thread_t t) {
    return (struct iio_record *)t.record;
}

/* The handle's incarnation as the state word holds it. */
static inline uint64_t iio_handle_incarnation(iio_thread_t t) {
    return t.incarnation & (IIO_ST_INC_MASK >> IIO_ST_INC_SHIFT);
}

/* The calling thread's record, registering the thread on first use; NULL
 * with *error set when registration fails. */
static inline struct iio_record *iio_current_record(int *error) {
    struct iio_record *rec = iio_tls_record;
    if (__builtin_expect(rec == NULL, 0)) {
        *error = iio_bind_slow(&rec);
        if (*error < 0)
            return NULL;
    }
    return rec;
}

/*
 * cancel.c: sends a request; gen_or_any == UINT64_MAX matches any op. In the
 * portable entry mode, wait_for_ack makes the caller re-send until the
 * target leaves the operation; the timer thread passes false and re-sends
 * from its wheel instead (iio_resend).
 */
int iio_request(struct iio_record *rec, uint64_t incarnation,
                uint64_t gen_or_any, int reason, bool sticky,
                bool wait_for_ack);
bool iio_resend(struct iio_record *rec, uint64_t incarnation,
                uint64_t generation);
/* Holds a live record (HELD) so its owner cannot exit; false if exited. */
bool iio_hold(struct iio_record *rec, uint64_t incarnation);
void iio_release(struct iio_record *rec);

/* syscall.c */
long iio_error_for(uint64_t state);

/* deadline.c: tells the timer thread about a deadline earlier than filed. */
void iio_timer_notify(struct iio_record *rec, uint64_t deadline_ns);
void iio_timer_after_fork(void);
/* Whether deadline_ns has passed, reading the precise clock only when the
 * coarse one cannot tell. */
bool iio_deadline_passed(uint64_t deadline_ns);

/* syscall_cp_*.S */
long iio_cp_syscall(const _Atomic uint64_t *state, long nr, long a, long b,
                    long c, long d, long e, long f);
extern const char iio_cp_begin[], iio_cp_end[], iio_cp_cancel[];

#endif
