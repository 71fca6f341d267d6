/*
 * interruptio.h — blocking I/O system calls that another thread can cancel.
 *
 * A thread that calls one of the iio_* wrappers below can be interrupted from
 * any other thread: the canceller records a request in the target's state
 * word and sends the library's signal to exactly that thread. The handler is
 * installed without SA_RESTART, so the blocked call returns early and the
 * descriptor stays open and usable.
 *
 * Return convention (all wrappers): the system call's result, or a negative
 * errno value. Two values are the library's own:
 *   -ECANCELED  the operation was cancelled (iio_cancel, iio_cancel_sticky)
 *   -ETIMEDOUT  the operation's deadline passed (the deadline layer)
 * A transfer that already moved bytes when the request came is returned as
 * its count: a partial count is a result, never an error. An EINTR that was
 * not caused by one of our requests is retried and never reaches the caller.
 *
 * The header is plain C11 and usable without Swift.
 */
#ifndef INTERRUPTIO_H
#define INTERRUPTIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <poll.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Set-up ------------------------------------------------------------ */

/*
 * The default signal is SIGRTMAX - 6 (58 with glibc's 64 signals).
 * Why there: glibc keeps 32 and 33 for itself and .NET takes SIGRTMIN (34),
 * musl uses 32 to 34; applications that grab "the first free real-time
 * signal" walk up from SIGRTMIN; OpenJDK's NIO uses SIGRTMAX - 2 and code
 * that wants "the last one" takes SIGRTMAX. Go uses SIGURG and Boehm GC
 * SIGPWR/SIGXCPU, which are not real-time signals. A real-time signal queues
 * per thread instead of merging with a sender we do not know about.
 * Override with iio_init(signo, ...) or the environment variable
 * INTERRUPTIO_SIGNAL (a number), read by the first, lazy, initialisation.
 */
#define IIO_DEFAULT_SIGNAL_FROM_RTMAX 6

/* Flags for iio_init. */
#define IIO_INIT_CHAIN 1u /* share the signal with a handler already there */

/*
 * Installs the handler (SA_SIGINFO | SA_ONSTACK, no SA_RESTART).
 * signo == 0 picks INTERRUPTIO_SIGNAL or the default. Idempotent and
 * thread-safe; the first wrapper call runs it lazily with signo == 0.
 * Returns 0, or:
 *   -EINVAL    signo is not SIGUSR1, SIGUSR2 or in [SIGRTMIN, SIGRTMAX]
 *              (glibc's internal 32 and 33 are below SIGRTMIN), or the
 *              environment variable does not name such a signal
 *   -EBUSY     another handler owns signo and IIO_INIT_CHAIN was not given
 *   -EALREADY  already initialised with a different signal
 */
int iio_init(int signo, unsigned flags);

/* The signal in use, or 0 before initialisation. */
int iio_signal(void);

/*
 * 1 when the handler installed for our signal is still ours, 0 when someone
 * replaced it after iio_init (interruption then no longer works), -EINVAL
 * before initialisation.
 */
int iio_handler_intact(void);

/* How a call enters the kernel: the reasoning is beside the stubs, in
 * syscall_cp_x86_64.S, and in RELIABILITY.md. */
#define IIO_ENTRY_PC_WINDOW 0 /* asm stub, race closed by the handler */
#define IIO_ENTRY_PORTABLE 1  /* check then syscall; canceller re-sends */

/*
 * Selects the entry path for the whole process (also INTERRUPTIO_ENTRY=
 * portable). -ENOTSUP when the PC window is not available: an architecture
 * without a stub, or a ThreadSanitizer build (TSan runs handlers on a copy
 * of the context, so a PC rewrite has no effect).
 */
int iio_set_entry_mode(int mode);
int iio_entry_mode(void);
/* 1 when this build has the PC-window entry, 0 otherwise. */
int iio_pc_window_available(void);

/* ---- Threads ----------------------------------------------------------- */

/*
 * A handle naming one thread for as long as it lives. Handles stay safe to
 * use after the thread has exited: cancelling one reports -ESRCH and never
 * signals whatever thread may now have the same kernel id.
 */
typedef struct iio_thread {
    void *record;
    uint64_t incarnation;
} iio_thread_t;

/*
 * Registers the calling thread (done lazily by the first wrapper call) and
 * fills *out with its handle. Registration unblocks our signal in the
 * thread's mask: Dispatch and Swift concurrency threads start with every
 * real-time signal blocked. Returns 0 or a negative errno (see iio_init;
 * -EAGAIN when the thread table is full).
 */
int iio_self(iio_thread_t *out);

/*
 * 1 when a signal sent to the calling thread would interrupt it now: the
 * library is initialised, our handler is installed and the signal is not
 * blocked in this thread's mask. 0 otherwise. One sigprocmask call.
 * The rule: a thread that blocks our signal after registering cannot be
 * interrupted until it unblocks it; its calls then finish on their own.
 */
int iio_thread_interruptible(void);

/* ---- Cancellation ------------------------------------------------------ */

/*
 * Cancels the operation the thread is running now, if any.
 * Returns 1 when an operation was in flight (it returns -ECANCELED, or the
 * result it already had: a partial count, an accepted descriptor), 0 when the thread was not in an operation, -ESRCH
 * when the thread has exited, -EINVAL for a null handle. Never affects the
 * thread's later operations.
 */
int iio_cancel(iio_thread_t thread);

/*
 * Like iio_cancel, and the thread's following operations fail with
 * -ECANCELED without entering the kernel until iio_clear_cancel.
 * Returns what iio_cancel would (0 still leaves the thread cancelled).
 */
int iio_cancel_sticky(iio_thread_t thread);

/* Clears a sticky cancel. 0, or -ESRCH / -EINVAL as above. */
int iio_clear_cancel(iio_thread_t thread);

/* 1 when the calling thread's calls fail because of a sticky cancel. */
int iio_self_cancelled(void);

/* ---- Cancellation groups ------------------------------------------------ */

/*
 * Threads join a group for the duration of their calls; iio_group_cancel
 * interrupts every member's call in flight and fails its later calls with
 * -ECANCELED (a sticky cancel) until iio_group_reset or until it leaves.
 * A thread that joins a cancelled group is cancelled at once. One call shuts
 * down a thread-per-connection server. The group's mutex is taken only by
 * these functions, never on a call's path.
 */
typedef struct iio_group iio_group_t;
iio_group_t *iio_group_create(void);   /* NULL when out of memory */
void iio_group_destroy(iio_group_t *group); /* after every member left */
/* 0, -ECANCELED when the group is cancelled (still joined), -ENOMEM. */
int iio_group_join(iio_group_t *group);
/* 0, -ENOENT when the calling thread is not a member. Clears the group's
 * sticky cancel on the leaving thread. */
int iio_group_leave(iio_group_t *group);
/* The number of members that were in a call. */
int iio_group_cancel(iio_group_t *group);
int iio_group_reset(iio_group_t *group);
int iio_group_cancelled(iio_group_t *group);

/* ---- Deadlines --------------------------------------------------------- */

/* Instants are CLOCK_MONOTONIC nanoseconds; IIO_NEVER is no deadline. */
#define IIO_NEVER 0xffffffffffffffffULL /* UINT64_MAX, spelled so Swift imports it */

/* CLOCK_MONOTONIC now, in nanoseconds. */
uint64_t iio_now_ns(void);

/*
 * Sets the calling thread's deadline for its following calls, until set
 * again: a call that starts after it fails with -ETIMEDOUT without entering
 * the kernel (even with data ready); a call in flight when it passes returns
 * -ETIMEDOUT (or its partial count). Setting it costs two plain stores; the
 * timer thread is told only when a call starts under a deadline earlier than
 * any it already knows for this thread.
 * Returns 0, or a negative errno if the thread cannot be registered.
 */
int iio_deadline_set(uint64_t deadline_ns);
uint64_t iio_deadline_get(void);

/*
 * Sets the calling thread's deadline and stores the one it replaces in
 * *previous, in one call (for wrappers that bound a single call).
 * Returns 1 when a deadline driver must still be started (see below), 0, or
 * a negative errno if the thread cannot be registered.
 */
int iio_deadline_swap(uint64_t deadline_ns, uint64_t *previous);

/*
 * Sets another thread's deadline; it applies at once to the call in flight:
 * a deadline already passed interrupts it now, a later one lets it go on.
 * 0, -ESRCH for an exited thread, -EINVAL for a null handle.
 */
int iio_deadline_set_for(iio_thread_t thread, uint64_t deadline_ns);

/*
 * Makes the calling thread's following calls read their deadline from
 * *source at each start (NULL: back to iio_deadline_set's value, which is
 * reset to IIO_NEVER). Whoever changes *source calls iio_deadline_changed on
 * the thread using it: its call in flight re-reads the source and goes on,
 * or fails with -ETIMEDOUT if the new deadline has passed. This is how
 * per-descriptor deadlines (Go's SetReadDeadline) are built; the memory at
 * source must outlive the calls that use it.
 */
int iio_deadline_source(const uint64_t *source);

/* Sequentially consistent access to a deadline word used as a source. */
void iio_deadline_word_store(uint64_t *word, uint64_t deadline_ns);
uint64_t iio_deadline_word_load(const uint64_t *word);

/* 1 when a call was in flight and was told, 0 if none, -ESRCH exited. */
int iio_deadline_changed(iio_thread_t thread);

/* A handle as one word (0 for none), for lock-free publication. */
uint64_t iio_thread_pack(iio_thread_t thread);
iio_thread_t iio_thread_unpack(uint64_t packed);

/*
 * The timer driver (the Swift InterruptIO module runs it; see
 * TimerDriver.swift). A C program that sets deadlines links that module and
 * starts it once; without a driver only the check at call entry applies.
 *
 * iio_timer_claim_driver() returns 1 to the one caller that must start the
 *   driver thread (again after fork()), 0 when one runs; from then on calls
 *   notify it. The driver thread calls iio_timer_driver_started() first.
 * iio_timer_take_notified() pops a record index the driver must (re)file,
 *   or -1 when none is waiting.
 * iio_timer_file(index, at) records when the driver will look at the record
 *   next (IIO_NEVER: not at all) and returns the record's deadline as it is
 *   after that: when it is earlier than `at`, file it there instead.
 * iio_timer_expire(index, now) is called when a filing comes due: it sends
 *   the deadline request if the deadline has passed and returns when the
 *   record must be looked at again (IIO_NEVER for not).
 * iio_timer_sleep(until) sleeps until `until` (CLOCK_MONOTONIC, absolute,
 *   IIO_NEVER for no limit) or until a notify needs an earlier wake-up.
 */
int iio_timer_claim_driver(void);
void iio_timer_driver_started(void);
int64_t iio_timer_take_notified(void);
uint64_t iio_timer_file(uint32_t index, uint64_t at_ns);
uint64_t iio_timer_expire(uint32_t index, uint64_t now_ns);
void iio_timer_sleep(uint64_t until_ns);

/* ---- Wrappers ---------------------------------------------------------- */
/* Each mirrors the C function it names; see the return convention above. */

ssize_t iio_read(int fd, void *buf, size_t count);
ssize_t iio_write(int fd, const void *buf, size_t count);
ssize_t iio_pread(int fd, void *buf, size_t count, off_t offset);
ssize_t iio_pwrite(int fd, const void *buf, size_t count, off_t offset);
ssize_t iio_readv(int fd, const struct iovec *iov, int iovcnt);
ssize_t iio_writev(int fd, const struct iovec *iov, int iovcnt);
ssize_t iio_preadv(int fd, const struct iovec *iov, int iovcnt, off_t offset);
ssize_t iio_pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset);
ssize_t iio_recv(int fd, void *buf, size_t len, int flags);
ssize_t iio_send(int fd, const void *buf, size_t len, int flags);
ssize_t iio_recvfrom(int fd, void *buf, size_t len, int flags,
                     struct sockaddr *addr, socklen_t *addrlen);
ssize_t iio_sendto(int fd, const void *buf, size_t len, int flags,
                   const struct sockaddr *addr, socklen_t addrlen);
ssize_t iio_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t iio_sendmsg(int fd, const struct msghdr *msg, int flags);
int iio_accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags);
/* poll: timeout_ms < 0 waits forever; a retried foreign EINTR keeps the
 * original end time. */
int iio_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms);
int iio_openat(int dirfd, const char *path, int flags, mode_t mode);

/*
 * connect. When interrupted by our request it returns -ECANCELED or
 * -ETIMEDOUT, but the kernel goes on with the attempt. Calling iio_connect
 * again on a blocking socket waits for that same attempt (a non-blocking one
 * says -EALREADY, then -EISCONN). Collect the outcome with
 * iio_connect_finish. A foreign EINTR is handled that way internally.
 */
int iio_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);

/*
 * Waits (interruptibly) until a connect in progress on fd finishes and
 * returns its outcome: 0 connected, or the negative error from SO_ERROR.
 */
int iio_connect_finish(int fd);

#ifdef __cplusplus
}
#endif

#endif /* INTERRUPTIO_H */
