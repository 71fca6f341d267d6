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

static long portable_syscall(const _Atomic uint64_t *state, long nr, long a,
                             long b, long c, long d, long e, long f) {
    if (atomic_load_explicit(state, memory_order_acquire) & IIO_ST_CANCEL)
        return -ECANCELED;
    /* The gap the PC window closes is here; cancel.c re-sends to cover it. */
    long r = syscall(nr, a, b, c, d, e, f);
    return r == -1 ? -errno : r;
}

static inline long enter(struct iio_record *rec, long nr, long a, long b,
                         long c, long d, long e, long f) {
#if defined(IIO_HAVE_PC_WINDOW)
    if (__builtin_expect(atomic_load_explicit(&iio_mode, memory_order_relaxed) ==
                             IIO_ENTRY_PC_WINDOW,
                         1))
        return iio_cp_syscall(&rec->state, nr, a, b, c, d, e, f);
#endif
    return portable_syscall(&rec->state, nr, a, b, c, d, e, f);
}

long iio_error_for(uint64_t state) {
    uint64_t reason = (state & IIO_ST_REASON_MASK) >> IIO_ST_REASON_SHIFT;
    return reason == IIO_REASON_DEADLINE ? -ETIMEDOUT : -ECANCELED;
}

static void op_end(struct iio_record *rec);
static long uninterruptible_call(long nr, long a, long b, long c, long d,
                                 long e, long f);

/*
 * Begins an operation on the calling thread. Returns the record, or NULL
 * with *error set: registration failed, or a sticky cancel is in force, or
 * the thread is already inside an operation (a signal handler of the
 * application calling us re-entrantly: that inner call runs uninterruptibly
 * rather than corrupting the outer one's state).
 */
static struct iio_record *op_begin(long *error) {
    int err;
    struct iio_record *rec = iio_current_record(&err);
    if (__builtin_expect(rec == NULL, 0)) {
        *error = err;
        return NULL;
    }
    uint64_t s = atomic_load_explicit(&rec->state, memory_order_relaxed);
    do {
        if (s & (IIO_ST_IN_OP | IIO_ST_STICKY)) {
            *error = (s & IIO_ST_STICKY) ? -ECANCELED : 0;
            return NULL;
        }
    } while (!atomic_compare_exchange_weak_explicit(
        &rec->state, &s, (s + IIO_ST_GEN_ONE) | IIO_ST_IN_OP,
        memory_order_seq_cst, memory_order_relaxed));
    uint64_t deadline;
    if (rec->deadline_source) {
        /* Read after the CAS: a setter that saw us outside the operation
         * stored the word before our CAS (see DeadlineDescriptor). This
         * store comes after the CAS, so it must itself be seq_cst for the
         * handshake with the timer thread below. */
        deadline = atomic_load(rec->deadline_source);
        atomic_store(&rec->deadline_ns, deadline);
    } else {
        deadline = atomic_load_explicit(&rec->deadline_ns,
                                        memory_order_relaxed);
#if !defined(__x86_64__) && !defined(__aarch64__)
        /* x86-64's locked CAS and AArch64's release/acquire pair keep the
         * earlier deadline store before the filed_ns load below; C11 alone
         * does not promise it for a relaxed store, so elsewhere, fence. */
        atomic_thread_fence(memory_order_seq_cst);
#endif
    }
    if (__builtin_expect(deadline != IIO_NEVER, 0)) {
        if (iio_deadline_passed(deadline)) {
            op_end(rec);
            *error = -ETIMEDOUT;
            return NULL;
        }
        /* Our deadline store is ordered before this load (the CAS above, or
         * the seq_cst store); see the handshake in deadline.c. */
        if (deadline < atomic_load(&rec->filed_ns))
            iio_timer_notify(rec, deadline);
    }
    return rec;
}

static void op_end(struct iio_record *rec) {
    uint64_t s = atomic_load_explicit(&rec->state, memory_order_relaxed);
    for (unsigned spins = 0;;) {
        if (s & IIO_ST_HELD) {
            iio_relax(&spins);
            s = atomic_load_explicit(&rec->state, memory_order_relaxed);
            continue;
        }
        if (atomic_compare_exchange_weak_explicit(
                &rec->state, &s,
                s & ~(IIO_ST_IN_OP | IIO_ST_CANCEL | IIO_ST_REASON_MASK),
                memory_order_release, memory_order_relaxed))
            return;
    }
}

/*
 * Inside an operation: the call, retried across EINTRs that are not ours.
 * A RECHECK request ends the operation and begins a new one, which reads
 * the deadline source again (and may fail at once if it has passed).
 * Returns with the operation ended.
 */
static long op_call_and_end(struct iio_record *rec, long nr, long a, long b,
                            long c, long d, long e, long f) {
    for (;;) {
        long r = enter(rec, nr, a, b, c, d, e, f);
        if (__builtin_expect(r != -EINTR && r != -ECANCELED, 1)) {
            op_end(rec);
            return r;
        }
        uint64_t s = atomic_load_explicit(&rec->state, memory_order_acquire);
        if (!(s & IIO_ST_CANCEL)) {
            if (r == -EINTR)
                continue;
            op_end(rec);
            return r;
        }
        uint64_t reason = (s & IIO_ST_REASON_MASK) >> IIO_ST_REASON_SHIFT;
        op_end(rec);
        if (reason != IIO_REASON_RECHECK)
            return iio_error_for(s);
        long error;
        if (op_begin(&error) == NULL)
            return error ? error : uninterruptible_call(nr, a, b, c, d, e, f);
    }
}

static long uninterruptible_call(long nr, long a, long b, long c, long d,
                                 long e, long f) {
    for (;;) {
        long r = syscall(nr, a, b, c, d, e, f);
        if (r != -1)
            return r;
        if (errno != EINTR)
            return -errno;
    }
}

static long interruptible(long nr, long a, long b, long c, long d, long e,
                          long f) {
    long error;
    struct iio_record *rec = op_begin(&error);
    if (__builtin_expect(rec == NULL, 0))
        return error ? error : uninterruptible_call(nr, a, b, c, d, e, f);
    return op_call_and_end(rec, nr, a, b, c, d, e, f);
}

#define L(x) ((long)(x))
/* ppoll's last argument: the kernel's sigset size, 64 signals. */
#define KERNEL_SIGSET_BYTES 8

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
 * ppoll writes the time left back into the timespec when it is interrupted,
 * so a retried foreign EINTR continues toward the original end time.
 */
int iio_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms) {
    struct timespec left, *timeout = NULL;
    if (timeout_ms >= 0) {
        left.tv_sec = timeout_ms / 1000;
        left.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
        timeout = &left;
    }
    return (int)interruptible(SYS_ppoll, L(fds), L(nfds), L(timeout), 0,
                              KERNEL_SIGSET_BYTES, 0);
}

int iio_connect_finish(int fd) {
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    int r = iio_poll(&pfd, 1, -1);
    if (r < 0)
        return r;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return -errno;
    return -err;
}

/*
 * connect cannot simply be retried after EINTR (the retry says EALREADY), so
 * the operation runs by hand: a foreign EINTR switches to waiting for the
 * attempt's outcome.
 */
int iio_connect(int fd, const struct sockaddr *addr, socklen_t addrlen) {
    long error;
    struct iio_record *rec = op_begin(&error);
    if (rec == NULL) {
        if (error)
            return (int)error;
        long r = syscall(SYS_connect, fd, addr, addrlen);
        if (r == 0)
            return 0;
        return errno == EINTR ? iio_connect_finish(fd) : -errno;
    }
    long r = enter(rec, SYS_connect, fd, L(addr), L(addrlen), 0, 0, 0);
    bool interrupted_by_someone_else = false;
    if (r == -EINTR || r == -ECANCELED) {
        uint64_t s = atomic_load(&rec->state);
        bool recheck = (s & IIO_ST_REASON_MASK) ==
                       ((uint64_t)IIO_REASON_RECHECK << IIO_ST_REASON_SHIFT);
        if ((s & IIO_ST_CANCEL) && !recheck)
            r = iio_error_for(s);
        else
            interrupted_by_someone_else = r == -EINTR || recheck;
    }
    op_end(rec);
    return interrupted_by_someone_else ? iio_connect_finish(fd) : (int)r;
}
