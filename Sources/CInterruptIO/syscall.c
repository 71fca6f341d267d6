/*
 * The interruptible operation: begin (bump the generation, set IN_OP), make
 * the call through the selected entry path, map our EINTR to the request's
 * reason, retry anyone else's, end (clear IN_OP once no canceller holds the
 * record).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* The call under fault injection (fault.c), out of the way of the
 * common path: an injected error instead of it, or it with a lowered
 * count. */
static __attribute__((noinline, cold)) long
faulted_syscall(long nr, long a, long b, long c, long d, long e, long f) {
    long args[6] = {a, b, c, d, e, f}, injected;
    if (iio_fault_inject(nr, args, &injected))
        return injected;
    long r = syscall(nr, args[0], args[1], args[2], args[3], args[4], args[5]);
    return r == -1 ? -errno : r;
}

static long portable_syscall(const _Atomic uint64_t *state, long nr, long a,
                             long b, long c, long d, long e, long f) {
    /* model: portable_check */
    if (atomic_load_explicit(state, memory_order_acquire) & IIO_ST_CANCEL)
        return -ECANCELED;
    if (__builtin_expect(
            atomic_load_explicit(&iio_faults_active, memory_order_relaxed),
            0))
        return faulted_syscall(nr, a, b, c, d, e, f);
    /* The gap the PC window closes is here; a request to a portable
     * operation arms a resend timer to cover it (cancel.c). */
    long r = syscall(nr, a, b, c, d, e, f); /* model: portable_syscall */
    return r == -1 ? -errno : r;
}

static inline long enter(struct iio_record *rec, bool portable, long nr,
                         long a, long b, long c, long d, long e, long f) {
#if defined(IIO_HAVE_PC_WINDOW)
    if (__builtin_expect(!portable, 1))
        return iio_cp_syscall(&rec->state, nr, a, b, c, d, e, f);
#else
    (void)portable;
#endif
    return portable_syscall(&rec->state, nr, a, b, c, d, e, f);
}

long iio_error_for(uint64_t state) {
    return iio_st_reason(state) == IIO_REASON_DEADLINE ? -ETIMEDOUT
                                                       : -ECANCELED;
}

static uint64_t op_end(struct iio_record *rec);
static long uninterruptible_call(enum eintr_policy policy, long nr, long a,
                                 long b, long c, long d, long e, long f);

/*
 * The deadline part of op begin, off the fast path: taken when a deadline
 * applies, or when the deadlines changed under the CAS (a setter raced with
 * us) or a source applies. `candidate` is what was stored before the CAS.
 */
static __attribute__((noinline)) struct iio_record *
op_begin_deadline(struct iio_record *rec, uint64_t candidate, bool changed,
                  long *error) {
    uint64_t deadline = candidate;
    if (changed) {
        deadline = iio_effective_deadline(rec);
        if (deadline != candidate)
            atomic_store(&rec->op_deadline_ns, deadline); /* model: op_lower */
    }
#if !defined(__x86_64__) && !defined(__aarch64__)
    atomic_thread_fence(memory_order_seq_cst); /* see op_begin */
#endif
    if (deadline == IIO_NEVER)
        return rec;
    if (iio_deadline_passed(deadline)) {
        op_end(rec);
        *error = -ETIMEDOUT;
        return NULL;
    }
    /* model: op_notify */
    if (deadline < atomic_load(&rec->scheduled_ns))
        iio_timer_notify(rec, deadline);
    return rec;
}

static struct iio_record *op_begin_refused(struct iio_record *rec,
                                           uint64_t s, long *error,
                                           bool *portable);

_Static_assert(IIO_ENTRY_PORTABLE == 1 && IIO_ENTRY_PC_WINDOW == 0 &&
                   IIO_ST_PORTABLE == (uint64_t)IIO_ENTRY_PORTABLE << 7,
               "the entry mode shifts into the PORTABLE bit");

/*
 * Begins an operation on the calling thread. Returns the record, or NULL
 * with *error set: registration failed, a sticky or group cancel is in
 * force, the deadline has passed, or (error 0) the thread is already inside
 * an operation: a signal handler of the application calling us re-entrantly,
 * whose call runs uninterruptibly rather than corrupting the outer one's
 * state.
 *
 * The deadline: the candidate (the call's, the thread's and the source's,
 * as read before the CAS) is stored before the CAS, and only when it
 * changed: the CAS orders it. The thread's and the source's are read again
 * after it, since
 * their setters store first and then look for an operation in flight; a
 * different value found there is stored seq_cst. Either store precedes the
 * load of scheduled_ns: the handshake in deadline.c. On x86-64 the locked
 * CAS, and on AArch64 its acquire/release pair, keep the relaxed store
 * before that load; elsewhere op_begin_deadline fences.
 */
static inline __attribute__((always_inline)) struct iio_record *
op_begin_refusing(const uint64_t refuse, long *error, bool *portable) {
    struct iio_record *rec = iio_tls_record;
    if (__builtin_expect(rec == NULL, 0))
        return op_begin_refused(NULL, 0, error, portable);
    uint64_t s = atomic_load_explicit(&rec->state, memory_order_relaxed);
    if (__builtin_expect(s & refuse, 0))
        return op_begin_refused(rec, s, error, portable);
    uint64_t candidate = iio_tls_call_deadline;
    uint64_t thread_deadline =
        atomic_load_explicit(&rec->thread_deadline_ns, memory_order_relaxed);
    if (thread_deadline < candidate)
        candidate = thread_deadline;
    const _Atomic uint64_t *source = iio_tls_deadline_source;
    uint64_t source_deadline = IIO_NEVER;
    if (source != NULL) {
        source_deadline = atomic_load_explicit(source, memory_order_relaxed);
        if (source_deadline < candidate)
            candidate = source_deadline;
    }
    if (__builtin_expect(atomic_load_explicit(&rec->op_deadline_ns,
                                              memory_order_relaxed) !=
                             candidate,
                         0))
        atomic_store_explicit(&rec->op_deadline_ns, candidate,
                              memory_order_relaxed); /* model: op_deadline */
    uint64_t entry =
        (uint64_t)atomic_load_explicit(&iio_mode, memory_order_relaxed) << 7;
    *portable = entry != 0;
    do {
        if (__builtin_expect(s & refuse, 0))
            return op_begin_refused(rec, s, error, portable);
        /* model: op_begin */
    } while (!atomic_compare_exchange_weak_explicit(
        &rec->state, &s, (s + IIO_ST_GEN_ONE) | IIO_ST_IN_OP | entry,
        memory_order_seq_cst, memory_order_relaxed));
    bool changed = atomic_load(&rec->thread_deadline_ns) != thread_deadline ||
                   (source != NULL && atomic_load(source) != source_deadline);
    if (__builtin_expect(candidate != IIO_NEVER || changed, 0))
        return op_begin_deadline(rec, candidate, changed, error);
    return rec;
}

/* The common case: refused by an operation in flight or a cancel in
 * force. Each caller gets its own copy with the mask a constant. */
static inline __attribute__((always_inline)) struct iio_record *
op_begin(long *error, bool *portable) {
    return op_begin_refusing(IIO_ST_IN_OP | IIO_ST_CANCELLED_BITS, error,
                             portable);
}

/*
 * Why op begin stopped, off the common path: no record yet (register, then
 * begin), a cancel in force (-ECANCELED; under a shield the op begins,
 * refused only by an operation in flight), or already inside an operation.
 */
static __attribute__((noinline)) struct iio_record *
op_begin_refused(struct iio_record *rec, uint64_t s, long *error,
                 bool *portable) {
    if (rec == NULL) {
        int err = iio_bind_slow(&rec);
        if (err < 0) {
            *error = err;
            return NULL;
        }
        return op_begin(error, portable);
    }
    if (s & IIO_ST_CANCELLED_BITS) {
        if (iio_tls_shield_depth == 0) {
            /* The cancel a shield kept is spent by one call: if a handler's
             * call (or iio_clear_cancel) took it since the load, and
             * nothing else is in force, this call begins after all. */
            if ((s & IIO_ST_KEPT) &&
                !(atomic_fetch_and(&rec->state, ~IIO_ST_KEPT) & IIO_ST_KEPT) &&
                !(s & (IIO_ST_CANCELLED_BITS & ~IIO_ST_KEPT)))
                return op_begin(error, portable);
            *error = -ECANCELED;
            return NULL;
        }
        if (!(s & IIO_ST_IN_OP))
            return op_begin_refusing(IIO_ST_IN_OP, error, portable);
    }
    /* Nested in an application handler that interrupted one of our calls
     * on this thread: the call runs uninterruptibly (the word belongs to
     * the outer call), but a deadline already passed still fails it. */
    uint64_t deadline = iio_effective_deadline(rec);
    *error = deadline != IIO_NEVER && iio_deadline_passed(deadline)
                 ? -ETIMEDOUT
                 : 0;
    return NULL;
}

/* Ends the operation once no holder is left; returns the word as it was
 * just before, so the caller reads the final reason (upgrades included). */
static uint64_t op_end(struct iio_record *rec) {
    uint64_t s = atomic_load_explicit(&rec->state, memory_order_relaxed);
    for (unsigned spins = 0;;) {
        if (iio_st_holders(s) != 0) {
            iio_relax(&spins);
            s = atomic_load_explicit(&rec->state, memory_order_relaxed);
            continue;
        }
        /* model: op_end */
        if (atomic_compare_exchange_weak_explicit(
                &rec->state, &s, s & ~IIO_ST_OP_BITS, memory_order_acq_rel,
                memory_order_relaxed))
            break;
    }
    if (__builtin_expect(s & IIO_ST_CLEANUP, 0))
        iio_op_cleanup(rec, s);
    return s;
}

/* What an interrupted operation reports, from the word op end cleared:
 * -ECANCELED, -ETIMEDOUT, or 0 to go on (a re-check, or a deadline
 * request whose deadline has since moved later). */
static long outcome_of(struct iio_record *rec, uint64_t final) {
    switch (iio_st_reason(final)) {
    case IIO_REASON_CANCEL:
        if (__builtin_expect(iio_tls_shield_depth != 0, 0))
            return 0; /* shielded: go on (op end kept the cancel) */
        return -ECANCELED;
    case IIO_REASON_DEADLINE:
        return iio_deadline_passed(iio_effective_deadline(rec)) ? -ETIMEDOUT
                                                                : 0;
    default:
        return 0;
    }
}

/*
 * Inside an operation: the call, retried across EINTRs that are not ours
 * (or handed back, RETURN_EINTR). A request that says "go on" ends the
 * operation and begins a new one, which reads the deadlines again (and
 * fails at once if one has passed). Returns with the operation ended.
 */
static long op_call_and_end(struct iio_record *rec, bool portable,
                            enum eintr_policy policy, long nr, long a, long b,
                            long c, long d, long e, long f) {
    for (;;) {
        long r = enter(rec, portable, nr, a, b, c, d, e, f);
        if (__builtin_expect(r != -EINTR && r != -ECANCELED, 1)) {
            op_end(rec);
            return r;
        }
        uint64_t s = atomic_load_explicit(&rec->state, memory_order_acquire);
        if (!(s & IIO_ST_CANCEL)) {
            if (r == -EINTR && policy == RETRY_EINTR)
                continue;
            op_end(rec);
            return r; /* the kernel's own ECANCELED, or EINTR handed back */
        }
        long outcome = outcome_of(rec, op_end(rec));
        if (outcome != 0)
            return outcome;
        if (policy == RETURN_EINTR)
            return -EINTR;
        long error;
        rec = op_begin(&error, &portable);
        if (rec == NULL)
            return error ? error
                         : uninterruptible_call(policy, nr, a, b, c, d, e, f);
    }
}

static long uninterruptible_call(enum eintr_policy policy, long nr, long a,
                                 long b, long c, long d, long e, long f) {
    for (;;) {
        long r = syscall(nr, a, b, c, d, e, f);
        if (r != -1)
            return r;
        if (errno != EINTR || policy == RETURN_EINTR)
            return -errno;
    }
}

static long interruptible_with(enum eintr_policy policy, long nr, long a,
                               long b, long c, long d, long e, long f) {
    long error;
    bool portable;
    struct iio_record *rec = op_begin(&error, &portable);
    if (__builtin_expect(rec == NULL, 0))
        return error ? error
                     : uninterruptible_call(policy, nr, a, b, c, d, e, f);
    return op_call_and_end(rec, portable, policy, nr, a, b, c, d, e, f);
}

/* For the wrappers in other files (calls.c, timed_waits.c); the ones here
 * call the static form, which the compiler specialises per policy. */
long iio_interruptible_syscall(enum eintr_policy policy, long nr, long a,
                               long b, long c, long d, long e, long f) {
    return interruptible_with(policy, nr, a, b, c, d, e, f);
}

static inline long interruptible(long nr, long a, long b, long c, long d,
                                 long e, long f) {
    return interruptible_with(RETRY_EINTR, nr, a, b, c, d, e, f);
}

#define L(x) ((long)(x))

ssize_t iio_read(int fd, void *buf, size_t count) {
    return interruptible(SYS_read, fd, L(buf), L(count), 0, 0, 0);
}
ssize_t iio_write(int fd, const void *buf, size_t count) {
    return interruptible(SYS_write, fd, L(buf), L(count), 0, 0, 0);
}
ssize_t iio_pread(int fd, void *buf, size_t count, off_t offset) {
    return interruptible(SYS_pread64, fd, L(buf), L(count), L(offset), 0, 0);
}
ssize_t iio_pwrite(int fd, const void *buf, size_t count, off_t offset) {
    return interruptible(SYS_pwrite64, fd, L(buf), L(count), L(offset), 0, 0);
}
ssize_t iio_readv(int fd, const struct iovec *iov, int iovcnt) {
    return interruptible(SYS_readv, fd, L(iov), iovcnt, 0, 0, 0);
}
ssize_t iio_writev(int fd, const struct iovec *iov, int iovcnt) {
    return interruptible(SYS_writev, fd, L(iov), iovcnt, 0, 0, 0);
}
/* preadv/pwritev take the offset as two longs (low, high) on every ABI. */
ssize_t iio_preadv(int fd, const struct iovec *iov, int iovcnt, off_t offset) {
    return interruptible(SYS_preadv, fd, L(iov), iovcnt, L(offset),
                         L((unsigned long long)offset >> 32 >> 32), 0);
}
ssize_t iio_pwritev(int fd, const struct iovec *iov, int iovcnt,
                    off_t offset) {
    return interruptible(SYS_pwritev, fd, L(iov), iovcnt, L(offset),
                         L((unsigned long long)offset >> 32 >> 32), 0);
}
ssize_t iio_recv(int fd, void *buf, size_t len, int flags) {
    return interruptible(SYS_recvfrom, fd, L(buf), L(len), flags, 0, 0);
}
ssize_t iio_send(int fd, const void *buf, size_t len, int flags) {
    return interruptible(SYS_sendto, fd, L(buf), L(len), flags, 0, 0);
}
ssize_t iio_recvfrom(int fd, void *buf, size_t len, int flags,
                     struct sockaddr *addr, socklen_t *addrlen) {
    return interruptible(SYS_recvfrom, fd, L(buf), L(len), flags, L(addr),
                         L(addrlen));
}
ssize_t iio_sendto(int fd, const void *buf, size_t len, int flags,
                   const struct sockaddr *addr, socklen_t addrlen) {
    return interruptible(SYS_sendto, fd, L(buf), L(len), flags, L(addr),
                         L(addrlen));
}
ssize_t iio_recvmsg(int fd, struct msghdr *msg, int flags) {
    return interruptible(SYS_recvmsg, fd, L(msg), flags, 0, 0, 0);
}
ssize_t iio_sendmsg(int fd, const struct msghdr *msg, int flags) {
    return interruptible(SYS_sendmsg, fd, L(msg), flags, 0, 0, 0);
}
int iio_accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags) {
    return (int)interruptible(SYS_accept4, fd, L(addr), L(addrlen), flags, 0,
                              0);
}
int iio_openat(int dirfd, const char *path, int flags, mode_t mode) {
    return (int)interruptible(SYS_openat, dirfd, L(path), flags, mode, 0, 0);
}

/*
 * The outcome of a connect in progress. An unconnected socket with no
 * attempt polls writable with SO_ERROR 0, so getpeername confirms: a
 * socket on which connect never ran reports -ENOTCONN, never 0.
 */
int iio_connect_finish(int fd) {
    /* A listening socket never polls writable, and neither may what is no
     * socket at all: neither can have an attempt in progress. */
    int listening = 0;
    socklen_t listening_len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening,
                   &listening_len) != 0)
        return -errno; /* -ENOTSOCK, -EBADF */
    if (listening)
        return -ENOTCONN;
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    int r = iio_poll(&pfd, 1, -1);
    if (r < 0)
        return r;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return -errno;
    if (err != 0)
        return -err;
    struct sockaddr_storage peer;
    socklen_t peer_len = sizeof peer;
    if (getpeername(fd, (struct sockaddr *)&peer, &peer_len) != 0)
        return -errno;
    return 0;
}

/*
 * connect cannot simply be retried after EINTR (the retry says EALREADY), so
 * the operation runs by hand. Interrupted inside the kernel by a foreign
 * signal or a re-check: the attempt goes on, and its outcome is collected
 * with iio_connect_finish (interruptible, under the same deadlines).
 * Stopped before the kernel (the stub's or the portable check) by a
 * re-check: connect has not run, so it runs now.
 */
int iio_connect(int fd, const struct sockaddr *addr, socklen_t addrlen) {
    for (;;) {
        long error;
        bool portable;
        struct iio_record *rec = op_begin(&error, &portable);
        if (rec == NULL) {
            if (error)
                return (int)error;
            long r = syscall(SYS_connect, fd, addr, addrlen);
            if (r == 0)
                return 0;
            return errno == EINTR ? iio_connect_finish(fd) : -errno;
        }
        long r = enter(rec, portable, SYS_connect, fd, L(addr), L(addrlen), 0,
                       0, 0);
        if (r != -EINTR && r != -ECANCELED) {
            op_end(rec);
            return (int)r;
        }
        uint64_t s = atomic_load(&rec->state);
        if (!(s & IIO_ST_CANCEL)) {
            op_end(rec);
            return r == -EINTR ? iio_connect_finish(fd) : (int)r;
        }
        long outcome = outcome_of(rec, op_end(rec));
        if (outcome != 0)
            return (int)outcome;
        if (r == -EINTR)
            return iio_connect_finish(fd);
    }
}
