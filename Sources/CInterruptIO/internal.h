/* Internal to CInterruptIO: the per-thread record and its state word. */
#ifndef INTERRUPTIO_INTERNAL_H
#define INTERRUPTIO_INTERNAL_H

/* Every source includes this first: the sources define what they need
 * themselves (REG_RIP, gettid, ...), so a project that vendors them needs
 * no flag of its own. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "interruptio.h"
#include "interruptio_driver.h"
#include "state_bits.h"
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sched.h>

/* Everything declared from here on is internal: hidden from a shared
 * library's exports (Tests/Make/check-exports.sh compares the exports with
 * the public headers). */
#pragma GCC visibility push(hidden)

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
 * The state word, one per thread record. The Promela model of every
 * transition below is Tests/Model/request_protocol.pml; each atomic step in
 * the C code names its model step in a comment ("model: ...").
 *
 *   bit  0      IN_OP       the owner is inside an interruptible operation
 *   bit  1      CANCEL      a request is pending for the current operation;
 *                           the entry stubs test this bit (state_bits.h)
 *   bits 2-3    REASON      the strongest request pending: RECHECK (1) <
 *                           DEADLINE (2) < CANCEL (3); a stronger request
 *                           upgrades a weaker one and is read at op end
 *   bit  4      EXITED      the record is bound to no thread
 *   bit  5      STICKY      iio_cancel_sticky: fail every operation until
 *                           iio_clear_cancel
 *   bit  6      CLEANUP     op end has slow work: a resend timer is armed
 *                           (portable op), the handler deferred our
 *                           signal (PC-window op in a nested handler), or
 *                           a cancel came (to keep under a shield)
 *   bit  7      PORTABLE    the current operation entered the kernel through
 *                           the portable path (set at op begin)
 *   bits 8-13   HOLDERS     how many other threads hold the record: a
 *                           requester between its CAS and the end of its
 *                           send, a deadline setter; the owner may not leave
 *                           the operation or exit while any does, so the tid
 *                           and the incarnation stay what each holder saw
 *                           (a 64th holder waits for one to release)
 *   bit  14     KEPT        a cancel reached a call under a shield
 *                           (shield.c): the first call after the shield
 *                           fails -ECANCELED and clears it. Set only by
 *                           the owner; iio_clear_cancel clears it too. In
 *                           the low 32 bits so that op begin's test of the
 *                           refusing bits stays one instruction
 *   bit  15     UNDELIVERED the kernel refused the request's signal (EAGAIN:
 *                           RLIMIT_SIGPENDING): the next requester sends it
 *   bits 16-23  GROUPS      how many cancelled groups the thread belongs to;
 *                           non-zero fails every operation like STICKY
 *   bits 24-39  INCARNATION bumped when the thread exits; a handle names it.
 *                           A record whose incarnation reaches the top is
 *                           retired, never reused, so a handle never wraps
 *   bits 40-63  GENERATION  bumped when an operation begins; a deadline
 *                           request names it (and the target re-checks its
 *                           deadline anyway, so a wrapped generation can cost
 *                           a restart, never a wrong result)
 *
 * Invariants:
 * - Only the owner sets IN_OP or bumps GENERATION (op begin), and only the
 *   owner clears IN_OP, CANCEL, REASON, CLEANUP, PORTABLE and UNDELIVERED
 *   (op end), never while HOLDERS is non-zero.
 * - A requester sets CANCEL|REASON and takes a hold in one CAS that also
 *   checks IN_OP, the incarnation and, for a deadline, the generation; so a
 *   request never outlives the operation it names, and a signal is only
 *   ever sent to a thread that is inside that operation.
 */
#define IIO_ST_IN_OP ((uint64_t)1 << 0)
#define IIO_ST_CANCEL ((uint64_t)1 << IIO_ST_CANCEL_BIT)
#define IIO_ST_REASON_SHIFT 2
#define IIO_ST_REASON_MASK ((uint64_t)3 << IIO_ST_REASON_SHIFT)
#define IIO_ST_EXITED ((uint64_t)1 << 4)
#define IIO_ST_STICKY ((uint64_t)1 << 5)
#define IIO_ST_CLEANUP ((uint64_t)1 << 6)
#define IIO_ST_PORTABLE ((uint64_t)1 << 7)
#define IIO_ST_HOLDERS_SHIFT 8
#define IIO_ST_HOLDERS_MASK ((uint64_t)0x3f << IIO_ST_HOLDERS_SHIFT)
#define IIO_ST_HOLD_ONE ((uint64_t)1 << IIO_ST_HOLDERS_SHIFT)
#define IIO_ST_HOLDERS_MAX (IIO_ST_HOLDERS_MASK >> IIO_ST_HOLDERS_SHIFT)
#define IIO_ST_KEPT ((uint64_t)1 << 14)
#define IIO_ST_UNDELIVERED ((uint64_t)1 << 15)
#define IIO_ST_GROUPS_SHIFT 16
#define IIO_ST_GROUPS_MASK ((uint64_t)0xff << IIO_ST_GROUPS_SHIFT)
#define IIO_ST_GROUP_ONE ((uint64_t)1 << IIO_ST_GROUPS_SHIFT)
#define IIO_ST_INC_SHIFT 24
#define IIO_ST_INC_MAX ((uint64_t)0xffff)
#define IIO_ST_INC_MASK (IIO_ST_INC_MAX << IIO_ST_INC_SHIFT)
#define IIO_ST_GEN_SHIFT 40
#define IIO_ST_GEN_ONE ((uint64_t)1 << IIO_ST_GEN_SHIFT)
#define IIO_ST_GEN_MAX (UINT64_MAX >> IIO_ST_GEN_SHIFT)

/* What op end clears. */
#define IIO_ST_OP_BITS                                                       \
    (IIO_ST_IN_OP | IIO_ST_CANCEL | IIO_ST_REASON_MASK | IIO_ST_CLEANUP |    \
     IIO_ST_PORTABLE | IIO_ST_UNDELIVERED)
/* Any of these makes an operation fail at once with -ECANCELED. */
#define IIO_ST_CANCELLED_BITS                                                \
    (IIO_ST_STICKY | IIO_ST_GROUPS_MASK | IIO_ST_KEPT)

_Static_assert(IIO_ST_CANCEL == 2 && IIO_ST_CANCEL_BIT < 8,
               "the stubs test CANCEL in the word's low byte");

enum iio_reason {
    IIO_REASON_NONE = 0,
    IIO_REASON_RECHECK = 1,  /* a deadline changed: re-read, go on or fail */
    IIO_REASON_DEADLINE = 2, /* the timer saw the deadline pass */
    IIO_REASON_CANCEL = 3,   /* iio_cancel and friends */
};

static inline uint64_t iio_st_reason(uint64_t s) {
    return (s & IIO_ST_REASON_MASK) >> IIO_ST_REASON_SHIFT;
}
static inline uint64_t iio_st_incarnation(uint64_t s) {
    return (s & IIO_ST_INC_MASK) >> IIO_ST_INC_SHIFT;
}
static inline uint64_t iio_st_generation(uint64_t s) {
    return s >> IIO_ST_GEN_SHIFT;
}
static inline uint64_t iio_st_holders(uint64_t s) {
    return (s & IIO_ST_HOLDERS_MASK) >> IIO_ST_HOLDERS_SHIFT;
}
static inline uint64_t iio_st_groups(uint64_t s) {
    return (s & IIO_ST_GROUPS_MASK) >> IIO_ST_GROUPS_SHIFT;
}
/* The word after the owner's thread exits: op bits gone, next incarnation. */
static inline uint64_t iio_st_exited(uint64_t s) {
    uint64_t next = (iio_st_incarnation(s) + 1) & IIO_ST_INC_MAX;
    return (s & ~(IIO_ST_OP_BITS | IIO_ST_INC_MASK | IIO_ST_GROUPS_MASK |
                  IIO_ST_STICKY | IIO_ST_KEPT)) |
           (next << IIO_ST_INC_SHIFT) | IIO_ST_EXITED;
}

struct iio_record {
    _Atomic uint64_t state;
    _Atomic int tid;              /* valid while not EXITED */
    uint32_t index;               /* position in the registry, never changes */
    struct iio_record *next_free; /* under the registry lock */
    /* The thread's own deadline (iio_deadline_set / iio_deadline_set_for);
     * IIO_NEVER for none. */
    _Atomic uint64_t thread_deadline_ns;
    /* The deadline of the operation in flight: the tightest of the thread's,
     * the call's and the deadline source's, as its start computed it. Read
     * by the timer thread; see deadline.c. */
    _Atomic uint64_t op_deadline_ns;
    /* When the timer thread will next look at this record (IIO_NEVER: not
     * until notified). Written only by the timer thread. */
    _Atomic uint64_t scheduled_ns;
    struct iio_record *_Atomic next_queued; /* the timer's notify stack */
    _Atomic int queued;
    /* Kernel id of the timer that re-sends a request to a portable
     * operation (-1: none yet). Made by the first requester that needs it,
     * deleted when the thread exits. */
    _Atomic int resend_timer;
    /* ---- second cache line: read by deadline-source scans only ---- */
    /* The deadline source the thread's calls read (iio_deadline_source),
     * published so a setter can find every thread using a word
     * (iio_deadline_source_changed): the last non-NULL source set, which
     * may outlive its use (a spurious re-check at most). The owner reads
     * its thread-local copy on the fast path. */
    const _Atomic uint64_t *_Atomic deadline_source
        __attribute__((aligned(64)));
};
_Static_assert(sizeof(struct iio_record) == 128,
               "the hot line, then the scanned line");

/* signal.c */
extern _Atomic int iio_signo;        /* 0 until initialised */
extern _Atomic int iio_mode;         /* IIO_ENTRY_* */
int iio_ensure_init(void);
/* The value our signals carry (si_value), so the handler tells the
 * library's own signals, stale ones included, from anyone else's. */
void *iio_signal_cookie(void);
/* Sends our signal to the record's thread; 0 or a negative errno. */
int iio_send_signal(struct iio_record *rec);
void iio_signal_fork_prepare(void);
void iio_signal_fork_parent(void);
void iio_signal_fork_child(void);

/* fork.c: the fork handlers, registered once. */
void iio_fork_handlers_register(void);
/* Bumped in every fork child: counts of callers made before it belong to
 * threads the child does not have (fd.c). */
extern _Atomic uint32_t iio_fork_epoch;

/* thread.c */
extern __thread struct iio_record *iio_tls_record
    __attribute__((tls_model("initial-exec")));
/* How many times the handler deferred our signal in this operation; op
 * end unblocks it. */
extern __thread int iio_tls_signal_deferred
    __attribute__((tls_model("initial-exec")));
/* fault.c: on while iio_faults_enable is in force; the portable entry
 * then asks iio_fault_inject whether to fail the call (true, *result) or
 * to make it with the arguments it may have lowered (false). */
extern _Atomic int iio_faults_active;
bool iio_fault_inject(long number, long args[6], long *result);
void iio_faults_from_environment(void);
bool iio_faults_hold_mode(void);
void iio_faults_release_mode(void);

/* shield.c: how deep the thread is in iio_shield_begin scopes. */
extern __thread unsigned iio_tls_shield_depth
    __attribute__((tls_model("initial-exec")));
int iio_bind_slow(struct iio_record **out);
struct iio_record *iio_record_at(uint32_t index);
/* How many records exist (never shrinks): the range a scan covers. */
uint32_t iio_record_count(void);
void iio_registry_fork_prepare(void);
void iio_registry_fork_parent(void);
void iio_registry_fork_child(void);

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

/* The handle's incarnation as the state word holds it, or UINT64_MAX for
 * one that no state word can hold (never matches). */
static inline uint64_t iio_handle_incarnation(iio_thread_t t) {
    return t.incarnation <= IIO_ST_INC_MAX ? t.incarnation : UINT64_MAX;
}

/* The packed handle: valid bit, incarnation, record index. */
#define IIO_PACKED_VALID ((uint64_t)1 << 63)
#define IIO_PACKED_INC_SHIFT 32
static inline uint64_t iio_pack(uint32_t index, uint64_t incarnation) {
    return IIO_PACKED_VALID |
           ((incarnation & IIO_ST_INC_MAX) << IIO_PACKED_INC_SHIFT) | index;
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

/* cancel.c: requests. */
#define IIO_ANY_OPERATION UINT64_MAX
enum iio_request_flags {
    IIO_REQUEST_STICKY = 1,      /* also fail later operations (STICKY) */
    IIO_REQUEST_GROUP = 2,       /* a group's cancel: GROUPS + 1 */
};
/*
 * Records a request for the operation `generation` (IIO_ANY_OPERATION: the
 * one in flight, whatever it is) of the thread that `incarnation` names,
 * and interrupts it. 1: an operation was in flight and will end or re-check
 * (or it had already been asked: a weaker reason is upgraded); 0: none was;
 * -ESRCH: exited; -EAGAIN: recorded, but the kernel refused the signal.
 */
int iio_request(struct iio_record *rec, uint64_t incarnation,
                uint64_t generation, enum iio_reason reason, unsigned flags);
/* Undoes one IIO_REQUEST_GROUP; -ESRCH when the thread is gone. */
int iio_ungroup(struct iio_record *rec, uint64_t incarnation);
/* Holds a live record so its owner cannot exit; false if exited. */
bool iio_hold(struct iio_record *rec, uint64_t incarnation);
void iio_release(struct iio_record *rec);
/* Op end's slow work (CLEANUP): disarm the resend timer, unblock a
 * deferred signal. */
void iio_op_cleanup(struct iio_record *rec, uint64_t final);
/* At thread exit: the resend timer goes. */
void iio_resend_timer_delete(struct iio_record *rec);

/* syscall.c */
long iio_error_for(uint64_t state);

/* deadline.c */
/* The calling thread's deadline sources, owner-only (thread-local); the
 * source is also published in the record for scans. */
extern __thread uint64_t iio_tls_call_deadline
    __attribute__((tls_model("initial-exec")));
extern __thread const _Atomic uint64_t *iio_tls_deadline_source
    __attribute__((tls_model("initial-exec")));
/* The tightest deadline that applies to the caller's operation, read after
 * its op-begin CAS. */
static inline uint64_t iio_effective_deadline(struct iio_record *rec) {
    uint64_t d = iio_tls_call_deadline;
    uint64_t t = atomic_load(&rec->thread_deadline_ns);
    if (t < d)
        d = t;
    const _Atomic uint64_t *source = iio_tls_deadline_source;
    if (source) {
        uint64_t w = atomic_load(source);
        if (w < d)
            d = w;
    }
    return d;
}
/* Sets the calling thread's source without publishing it; returns the
 * previous one. */
static inline const _Atomic uint64_t *
iio_source_swap_local(const _Atomic uint64_t *source) {
    const _Atomic uint64_t *previous = iio_tls_deadline_source;
    iio_tls_deadline_source = source;
    return previous;
}

/* Sets the calling thread's source; returns the previous one. */
static inline const _Atomic uint64_t *
iio_source_swap(struct iio_record *rec, const _Atomic uint64_t *source) {
    const _Atomic uint64_t *previous = iio_tls_deadline_source;
    iio_tls_deadline_source = source;
    /* The published source stays when the thread drops it: a thread that
     * calls on one descriptor again and again (the common case) then pays
     * one relaxed load here, not a store. A stale publication costs a scan
     * of that word a spurious re-check of this thread at most. A new one is
     * stored seq_cst: a scan that misses it is ordered before it, and so
     * before the call's start re-reads the word the scanner stored first
     * (the Dekker pair of iio_source_recheck). */
    if (source != NULL &&
        atomic_load_explicit(&rec->deadline_source, memory_order_relaxed) !=
            source)
        atomic_store(&rec->deadline_source, source);
    return previous;
}

/* Tells the timer thread about a deadline earlier than it has scheduled. */
void iio_timer_notify(struct iio_record *rec, uint64_t deadline_ns);
void iio_timer_fork_child(void);
/* For a setter of `deadline_ns`: starts a driver if one is needed and none
 * runs; 1 when the deadline is still ahead and no driver could be started
 * (only the entry checks apply), else 0. */
int iio_driver_needed(uint64_t deadline_ns);
int iio_timer_ensure_driver(void);
/* driver.c: the C driver, for processes without the Swift module. */
int iio_c_driver_start(void);
void iio_c_driver_fork_child(void);
/* Asks every thread whose source is `a` or `b` (b may be NULL) and that is
 * in a call to re-check its deadline; returns how many were asked. */
int iio_source_recheck(const _Atomic uint64_t *a, const _Atomic uint64_t *b);
/* Whether deadline_ns has passed, reading the precise clock only when the
 * coarse one cannot tell. */
bool iio_deadline_passed(uint64_t deadline_ns);

/* Whether a foreign EINTR is retried inside the operation, or handed back
 * (for calls whose arguments must be recomputed first: a timeout). */
enum eintr_policy { RETRY_EINTR, RETURN_EINTR };

/* The interruptible operation around one syscall (syscall.c): the library
 * return convention, -ECANCELED / -ETIMEDOUT for our requests. */
long iio_interruptible_syscall(enum eintr_policy policy, long nr, long a,
                               long b, long c, long d, long e, long f);

/* syscall_cp_*.S */
long iio_cp_syscall(const _Atomic uint64_t *state, long nr, long a, long b,
                    long c, long d, long e, long f);
extern const char iio_cp_begin[], iio_cp_end[], iio_cp_cancel[];

#pragma GCC visibility pop

#endif
