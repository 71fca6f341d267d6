/*
 * iio_fd_t: a descriptor with Go's net.Conn contract. Per-direction
 * deadlines that reach every call in flight, and a close that unblocks
 * every caller and closes the number exactly once, after the last of them
 * has left, so a number the kernel hands out again is never touched.
 *
 * Two call words, one per direction ([0] read: read, recv, accept;
 * [1] write: write, send, shutdown), 32 bits each so a closer can wait on
 * them with a futex (Go's fdMutex keeps the same reference count and
 * closed bit in one word; here each direction keeps its own so that a
 * deadline setter only looks for callers in its own direction):
 *
 *   bit  31     CLOSED  close has begun: no call may start
 *   bits 23-30  EPOCH   the fork epoch the count was made in; a count from
 *                       before a fork is void in the child, whose other
 *                       threads are gone (a prefork server's child closing
 *                       the listener must not wait for the parent's
 *                       acceptors). Wraps after 256 generations of forks
 *   bits 0-22   CALLS   calls in flight in that direction
 *
 * Two deadline words, one per direction, each the deadline source of the
 * calls in that direction (deadline.c). A call publishes the word as its
 * source, then counts itself, then starts (and reads the word); a setter
 * stores the word, then, if it moved earlier and a call is counted, asks
 * every thread whose source it is to re-check (iio_source_recheck). Close
 * stores CLOSED_WORD (0: long passed) into both words with the same
 * protocol, so every call in flight or starting times out; the call's end
 * sees CLOSED and reports -EBADF instead. A setter never overwrites
 * CLOSED_WORD (compare-and-swap), and stores 1 for a caller's 0.
 *
 * Close waits until both counts are zero (futex on the call word, woken by
 * the caller that leaves last; a 5 ms timeout re-asks callers a refused
 * signal missed), then closes the number. A count only goes up while
 * CLOSED is clear, so once both are zero no call is in flight or can start.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CALL_CLOSED ((uint32_t)1 << 31)
#define CALL_EPOCH_SHIFT 23
#define CALL_EPOCH_MASK ((uint32_t)0xff << CALL_EPOCH_SHIFT)
#define CALL_COUNT_MASK (((uint32_t)1 << CALL_EPOCH_SHIFT) - 1)
#define CLOSED_WORD ((uint64_t)0)
#define CLOSE_RECHECK_NS 5000000L

enum { READ_SIDE = 0, WRITE_SIDE = 1 };

struct iio_fd {
    _Atomic uint32_t calls[2];
    _Atomic int number; /* -1 once closed */
    _Atomic uint64_t deadline[2];
};

static inline __attribute__((always_inline)) uint32_t epoch_now(void) {
    return (atomic_load_explicit(&iio_fork_epoch, memory_order_relaxed) &
            0xff)
           << CALL_EPOCH_SHIFT;
}

/* Calls in flight that this process counted: a count from before a fork
 * belongs to threads the child does not have. */
static inline uint32_t in_flight(uint32_t word, uint32_t epoch) {
    return (word & CALL_EPOCH_MASK) == epoch ? word & CALL_COUNT_MASK : 0;
}

static int side_of(int direction) {
    return direction == IIO_FD_READ ? READ_SIDE
           : direction == IIO_FD_WRITE ? WRITE_SIDE
                                       : -1;
}

/* Counts a call in; -EBADF once close has begun. Close marks the read side
 * first, so a write-side call looks there too: close begins for both sides
 * at once (found by the model: a write could otherwise start after
 * iio_fd_closed() said 1). */
static inline __attribute__((always_inline)) int enter(struct iio_fd *f,
                                                       int side) {
    if (side == WRITE_SIDE &&
        (atomic_load(&f->calls[READ_SIDE]) & CALL_CLOSED))
        return -EBADF;
    uint32_t epoch = epoch_now();
    uint32_t w = atomic_load_explicit(&f->calls[side], memory_order_relaxed);
    for (;;) {
        if (w & CALL_CLOSED)
            return -EBADF;
        uint32_t n = in_flight(w, epoch);
        if (n == CALL_COUNT_MASK)
            return -EAGAIN;
        /* seq_cst: ordered after the source's publication and before the
         * call's start (see the file comment). */
        if (atomic_compare_exchange_weak(&f->calls[side], &w,
                                         epoch | (n + 1)))
            return 0;
    }
}

/* Counts a call out; returns the call word as it left it. After the
 * decrement the object may be freed at any moment (close returned, the
 * owner freed it): nothing here or in the caller reads it again. The wake
 * only names the address (a private futex hashes it). */
static inline __attribute__((always_inline)) uint32_t leave(struct iio_fd *f,
                                                            int side) {
    uint32_t epoch = epoch_now();
    uint32_t w = atomic_load_explicit(&f->calls[side], memory_order_relaxed);
    for (;;) {
        if (in_flight(w, epoch) == 0)
            return w; /* counted before a fork, in a thread that survived
                         it as a nested handler's call: nothing to undo */
        uint32_t next = w - 1;
        if (atomic_compare_exchange_weak(&f->calls[side], &w, next)) {
            if ((next & CALL_CLOSED) && in_flight(next, epoch) == 0)
                syscall(SYS_futex, &f->calls[side], FUTEX_WAKE_PRIVATE,
                        INT32_MAX, NULL, NULL, 0);
            return next;
        }
    }
}

int iio_fd_wrap(int number, iio_fd_t **out) {
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (number < 0 || fcntl(number, F_GETFD) < 0)
        return -EBADF;
    struct iio_fd *f = malloc(sizeof *f);
    if (f == NULL)
        return -ENOMEM;
    atomic_init(&f->calls[READ_SIDE], 0);
    atomic_init(&f->calls[WRITE_SIDE], 0);
    atomic_init(&f->number, number);
    atomic_init(&f->deadline[READ_SIDE], IIO_NEVER);
    atomic_init(&f->deadline[WRITE_SIDE], IIO_NEVER);
    *out = f;
    return 0;
}

int iio_fd_number(const iio_fd_t *f) {
    if (f == NULL)
        return -EINVAL;
    if (atomic_load(&((struct iio_fd *)f)->calls[READ_SIDE]) & CALL_CLOSED)
        return -EBADF;
    return atomic_load(&((struct iio_fd *)f)->number);
}

int iio_fd_closed(const iio_fd_t *f) {
    if (f == NULL)
        return -EINVAL;
    return (atomic_load(&((struct iio_fd *)f)->calls[READ_SIDE]) &
            CALL_CLOSED) != 0;
}

/*
 * A call's start and end, inlined into each wrapper (the public
 * iio_fd_begin / iio_fd_end are the same code for other calls). Begin
 * returns the number or a negative errno.
 */
/* The calling thread's calls on descriptors in progress, innermost first
 * (more than one only in signal handlers): close refuses to wait for one
 * of its own thread's. */
static __thread iio_fd_call_t *calls_in_progress
    __attribute__((tls_model("initial-exec")));

static inline __attribute__((always_inline)) int
call_begin(struct iio_fd *f, int side, iio_fd_call_t *call) {
    if (__builtin_expect(f == NULL, 0))
        return -EINVAL;
    int err = 0; /* set by iio_current_record when it fails */
    struct iio_record *rec = iio_current_record(&err);
    if (__builtin_expect(rec == NULL, 0))
        return err;
    /* Published (if not already, from this thread's last call on fd)
     * before the call's start, whose CAS orders it before the word is
     * read: a setter that stored the word first either finds the source
     * or is read. Not published by a call made in a signal handler inside
     * another call of this thread (IN_OP is set): the record's published
     * source belongs to that outer call, which setters must still find
     * (found by the model); the nested call runs uninterruptibly anyway. */
    /* On the thread's list before the call counts in, off it after it
     * counts out: a signal handler that closes fd in between must see the
     * call and refuse, not wait for itself (found by the outside attack's
     * close-from-a-handler-at-random-moments case, in CI). */
    call->fd = f;
    call->outer = calls_in_progress;
    calls_in_progress = call;
    atomic_signal_fence(memory_order_seq_cst);
    const _Atomic uint64_t *previous;
    bool nested = atomic_load_explicit(&rec->state, memory_order_relaxed) &
                  IIO_ST_IN_OP;
    if (__builtin_expect(nested, 0))
        previous = iio_source_swap_local(&f->deadline[side]);
    else
        previous = iio_source_swap(rec, &f->deadline[side]);
    call->previous_source = (const void *)previous;
    call->nested = nested;
    err = enter(f, side);
    if (__builtin_expect(err < 0, 0)) {
        iio_source_swap_local(previous);
        atomic_signal_fence(memory_order_seq_cst);
        calls_in_progress = call->outer;
        return err;
    }
    return atomic_load_explicit(&f->number, memory_order_relaxed);
}

static inline __attribute__((always_inline)) long
call_end(struct iio_fd *f, int side, const iio_fd_call_t *call, long result) {
    uint32_t left = leave(f, side);
    atomic_signal_fence(memory_order_seq_cst);
    calls_in_progress = call->outer;
    /* The thread's source goes back to what it was: NULL, the thread's own
     * (iio_deadline_source: published again, so its setter finds the
     * thread's later calls; found by the outside attack), or, in a signal
     * handler inside another call, that call's (never published here). */
    const _Atomic uint64_t *previous =
        (const _Atomic uint64_t *)call->previous_source;
    if (__builtin_expect(previous != NULL && !call->nested, 0))
        iio_source_swap(iio_tls_record, previous);
    else
        iio_source_swap_local(previous);
    /* Close interrupts a call by passing its deadline; report it as what
     * it is, from the word this call left (f may be gone by now). A result
     * (a count, data) stays a result. */
    if (__builtin_expect(result == -ETIMEDOUT, 0) && (left & CALL_CLOSED))
        return -EBADF;
    return result;
}

int iio_fd_begin(iio_fd_t *f, int direction, iio_fd_call_t *call) {
    int side = side_of(direction);
    if (f == NULL || call == NULL || side < 0)
        return -EINVAL;
    call->direction = direction;
    return call_begin(f, side, call);
}

long iio_fd_end(iio_fd_t *f, const iio_fd_call_t *call, long result) {
    return call_end(f, side_of(call->direction), call, result);
}

int iio_fd_set_deadline(iio_fd_t *f, int which, uint64_t deadline_ns) {
    if (f == NULL || which < IIO_FD_READ || which > IIO_FD_BOTH)
        return -EINVAL;
    if (deadline_ns == CLOSED_WORD)
        deadline_ns = 1; /* as passed, and not mistaken for closed */
    uint32_t epoch = epoch_now();
    for (int side = READ_SIDE; side <= WRITE_SIDE; side++) {
        if (!(which & (side == READ_SIDE ? IIO_FD_READ : IIO_FD_WRITE)))
            continue;
        uint64_t old = atomic_load(&f->deadline[side]);
        do {
            if (old == CLOSED_WORD)
                return -EBADF;
        } while (!atomic_compare_exchange_weak(&f->deadline[side], &old,
                                               deadline_ns));
        /* A later deadline needs no word to anyone: the timer reviews each
         * call at the deadline it started under, and the call, re-checking,
         * goes on. An earlier one must be re-read by every call in flight. */
        if (deadline_ns < old &&
            in_flight(atomic_load(&f->calls[side]), epoch) != 0)
            iio_source_recheck(&f->deadline[side], NULL);
    }
    return iio_driver_needed(deadline_ns);
}

uint64_t iio_fd_deadline(const iio_fd_t *f, int which) {
    int side = side_of(which);
    if (f == NULL || side < 0)
        return IIO_NEVER;
    return atomic_load(&((struct iio_fd *)f)->deadline[side]);
}

int iio_fd_close(iio_fd_t *f) {
    if (f == NULL)
        return -EINVAL;
    /* A call on fd in progress on this thread (below a signal handler
     * that called us, however deeply nested): waiting would be for itself. */
    for (const iio_fd_call_t *call = calls_in_progress; call != NULL;
         call = call->outer)
        if (call->fd == f)
            return -EDEADLK;
    if (atomic_fetch_or(&f->calls[READ_SIDE], CALL_CLOSED) & CALL_CLOSED)
        return -EBADF;
    atomic_fetch_or(&f->calls[WRITE_SIDE], CALL_CLOSED);
    atomic_store(&f->deadline[READ_SIDE], CLOSED_WORD);
    atomic_store(&f->deadline[WRITE_SIDE], CLOSED_WORD);
    uint32_t epoch = epoch_now();
    for (;;) {
        uint32_t r = atomic_load(&f->calls[READ_SIDE]);
        uint32_t w = atomic_load(&f->calls[WRITE_SIDE]);
        if (in_flight(r, epoch) == 0 && in_flight(w, epoch) == 0)
            break;
        iio_source_recheck(&f->deadline[READ_SIDE], &f->deadline[WRITE_SIDE]);
        int side = in_flight(r, epoch) != 0 ? READ_SIDE : WRITE_SIDE;
        struct timespec wait = {0, CLOSE_RECHECK_NS};
        syscall(SYS_futex, &f->calls[side], FUTEX_WAIT_PRIVATE,
                side == READ_SIDE ? r : w, &wait, NULL, 0);
    }
    int number = atomic_exchange(&f->number, -1);
    /* Linux frees the number even when close reports EINTR: never retry. */
    if (close(number) < 0 && errno != EINTR)
        return -errno;
    return 0;
}

int iio_fd_shutdown(iio_fd_t *f, int how) {
    if (f == NULL)
        return -EINVAL;
    int err = enter(f, WRITE_SIDE);
    if (err < 0)
        return err;
    int r = shutdown(atomic_load_explicit(&f->number, memory_order_relaxed),
                     how);
    int result = r < 0 ? -errno : 0;
    leave(f, WRITE_SIDE);
    return result;
}

void iio_fd_free(iio_fd_t *f) {
    if (f == NULL)
        return;
    if (!iio_fd_closed(f))
        iio_fd_close(f);
    free(f);
}

/* ---- The calls ---------------------------------------------------------- */

#define FD_CALL(f, side, call)                                               \
    do {                                                                     \
        iio_fd_call_t frame;                                                 \
        int fd = call_begin((f), (side), &frame);                            \
        if (fd < 0)                                                          \
            return fd;                                                       \
        return call_end((f), (side), &frame, (long)(call));                  \
    } while (0)

ssize_t iio_fd_read(iio_fd_t *f, void *buf, size_t count) {
    FD_CALL(f, READ_SIDE, iio_read(fd, buf, count));
}
ssize_t iio_fd_write(iio_fd_t *f, const void *buf, size_t count) {
    FD_CALL(f, WRITE_SIDE, iio_write(fd, buf, count));
}
ssize_t iio_fd_readv(iio_fd_t *f, const struct iovec *iov, int iovcnt) {
    FD_CALL(f, READ_SIDE, iio_readv(fd, iov, iovcnt));
}
ssize_t iio_fd_writev(iio_fd_t *f, const struct iovec *iov, int iovcnt) {
    FD_CALL(f, WRITE_SIDE, iio_writev(fd, iov, iovcnt));
}
ssize_t iio_fd_recv(iio_fd_t *f, void *buf, size_t len, int flags) {
    FD_CALL(f, READ_SIDE, iio_recv(fd, buf, len, flags));
}
ssize_t iio_fd_send(iio_fd_t *f, const void *buf, size_t len, int flags) {
    FD_CALL(f, WRITE_SIDE, iio_send(fd, buf, len, flags));
}
ssize_t iio_fd_recvmsg(iio_fd_t *f, struct msghdr *msg, int flags) {
    FD_CALL(f, READ_SIDE, iio_recvmsg(fd, msg, flags));
}
ssize_t iio_fd_sendmsg(iio_fd_t *f, const struct msghdr *msg, int flags) {
    FD_CALL(f, WRITE_SIDE, iio_sendmsg(fd, msg, flags));
}
int iio_fd_accept4(iio_fd_t *f, struct sockaddr *addr, socklen_t *addrlen,
                   int flags) {
    FD_CALL(f, READ_SIDE, iio_accept4(fd, addr, addrlen, flags));
}
