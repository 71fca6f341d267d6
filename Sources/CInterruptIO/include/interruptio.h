/*
 * interruptio.h — blocking I/O system calls that another thread can cancel.
 *
 * A thread that calls one of the iio_* wrappers below can be interrupted from
 * any other thread: the canceller records a request in the target's state
 * word and sends the library's signal to exactly that thread. The handler is
 * installed without SA_RESTART, so the blocked call returns early and the
 * descriptor stays open and usable.
 *
 * A wrapper called from a signal handler that interrupted one of our calls
 * on the same thread (an application handler making I/O calls) runs
 * uninterruptibly: it fails at once under a sticky or group cancel or a
 * passed deadline, but neither a request nor a deadline can end it once it
 * blocks, since the thread's state belongs to the interrupted call.
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
#include <sys/select.h> /* fd_set, sigset_t, struct timeval */
#include <time.h>       /* struct timespec */

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version; the Makefile's pkg-config file carries the same. */
#define IIO_VERSION_MAJOR 0
#define IIO_VERSION_MINOR 3
#define IIO_VERSION_PATCH 0
#define IIO_VERSION_STRING "0.3.0"

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
/*
 * IIO_INIT_CHAIN shares the signal with a handler already there: signals
 * that are not the library's (ours carry a per-process cookie in si_value,
 * sent with rt_tgsigqueueinfo or by a POSIX timer) go to that handler as
 * the kernel would have run it, with its sa_mask (and the signal itself
 * unless SA_NODEFER) blocked. SA_RESETHAND: it runs once, and later foreign
 * signals are dropped. The library's own signals, late ones included,
 * never reach it.
 */
#define IIO_INIT_CHAIN 1u

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
 * portable). -EBUSY while fault injection is on (below). -ENOTSUP when the
 * PC window is not available: an architecture
 * without a stub, or a ThreadSanitizer build (TSan runs handlers on a copy
 * of the context, so a PC rewrite has no effect). Safe with calls in
 * flight: each operation records the path it entered by, and requests to it
 * are delivered for that path; operations that start afterwards use the
 * new one.
 */
int iio_set_entry_mode(int mode);
int iio_entry_mode(void);
/* 1 when this build has the PC-window entry, 0 otherwise. */
int iio_pc_window_available(void);

/* ---- Fault injection (for tests) ------------------------------------- */
/*
 * Makes wrapper calls fail or fall short at a rate, so a program's own
 * handling of partial transfers, timeouts and cancels can be tested: short
 * counts (a read or write made with a smaller count; splice, sendfile,
 * copy_file_range and tee too), foreign EINTRs (which the library hides,
 * as it hides real ones: a test that they never surface), -ECANCELED and
 * -ETIMEDOUT (returned instead of making the call, so nothing is lost).
 * Off by default. While on, every call takes the portable entry and
 * iio_set_entry_mode says -EBUSY; off, it costs nothing (the PC-window
 * path does not look at it). Each thread draws from its own generator,
 * seeded from `seed` in the order threads first draw.
 * The environment variable INTERRUPTIO_FAULTS, read by iio_init, turns it
 * on: "rate=0.05,seed=42,kinds=short+eintr+canceled+timedout" (kinds
 * default to all; a malformed value leaves it off).
 */
#define IIO_FAULT_SHORT 1u
#define IIO_FAULT_EINTR 2u
#define IIO_FAULT_CANCELED 4u
#define IIO_FAULT_TIMEDOUT 8u
#define IIO_FAULT_ALL 15u
typedef struct iio_fault_counts {
    uint64_t calls;        /* calls that drew since it was enabled */
    uint64_t short_counts; /* and of them, each kind injected */
    uint64_t eintrs;
    uint64_t cancels;
    uint64_t timeouts;
} iio_fault_counts_t;
/* 0, or -EINVAL (no kind, unknown kinds, rate above 1,000,000). Enabling
 * again replaces the settings and zeroes the counts. */
int iio_faults_enable(unsigned kinds, uint32_t rate_per_million,
                      uint64_t seed);
void iio_faults_disable(void);
int iio_faults_enabled(void);
void iio_faults_counts(iio_fault_counts_t *out);

/* ---- Threads ----------------------------------------------------------- */

/*
 * A handle naming one thread for as long as it lives. Handles stay safe to
 * use after the thread has exited: cancelling one reports -ESRCH and never
 * signals whatever thread may now have the same kernel id, nor the thread
 * that now uses the same record (a record is retired, never reused, after
 * 65,535 threads have used it, so a handle cannot wrap).
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
 * result it already had: a partial count, an accepted descriptor; a cancel
 * that meets a pending deadline re-check or deadline request replaces it),
 * 0 when the thread was not in an operation, -ESRCH when the thread has
 * exited, -EINVAL for a null handle, -EAGAIN when the request was recorded
 * but the kernel refused the signal (RLIMIT_SIGPENDING exhausted: the call
 * fails when it next checks, at the latest at its end). Never affects the
 * thread's later operations. Safe from a signal handler, also on the
 * calling thread's own handle.
 *
 * Delivery: a call entered through the PC window cannot miss the signal,
 * also when it lands while an application handler runs on the target (it
 * is deferred until that handler returns). A call entered through the
 * portable path is signalled again every 200 µs by a per-thread timer until
 * it ends, however long it sits in a handler; a thread with our signal
 * blocked gets one queued signal, never a flood.
 */
int iio_cancel(iio_thread_t thread);

/*
 * Like iio_cancel, and the thread's following operations fail with
 * -ECANCELED without entering the kernel until iio_clear_cancel.
 * Returns what iio_cancel would (0 still leaves the thread cancelled).
 */
int iio_cancel_sticky(iio_thread_t thread);

/* Clears a sticky cancel and a cancel a shield kept (not a group's); a
 * cancel that reached a shielded call whose end is under way is kept after
 * it. 0, or -ESRCH / -EINVAL. */
int iio_clear_cancel(iio_thread_t thread);

/* 1 when a cancel is in force for the calling thread: a sticky cancel, a
 * cancelled group it belongs to, or a cancel a shield kept. Its next call
 * then fails with -ECANCELED; inside a shield, the first call after it. */
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
/* 0, -ECANCELED when the group is cancelled (still joined), -ENOMEM,
 * -EMLINK when the thread already belongs to 255 groups. */
int iio_group_join(iio_group_t *group);
/* 0, -ENOENT when the calling thread is not a member. Undoes this group's
 * cancel on the leaving thread, and only this group's: another cancelled
 * group's and an iio_cancel_sticky stay in force. */
int iio_group_leave(iio_group_t *group);
/* The number of members that were in a call. */
int iio_group_cancel(iio_group_t *group);
int iio_group_reset(iio_group_t *group);
int iio_group_cancelled(iio_group_t *group);

/* ---- Shield ------------------------------------------------------------ */
/*
 * A scope in which the calling thread's calls are not ended by cancels:
 * iio_cancel, iio_cancel_sticky and group cancels (pthread_setcancelstate's
 * PTHREAD_CANCEL_DISABLE, for this library's calls). For a protocol's final
 * write or a log flush during shutdown.
 * - A cancel that reaches a call inside the scope is kept: the call goes on
 *   (restarted, nothing lost) and the first call after the outermost
 *   iio_shield_end fails with -ECANCELED. A sticky or group cancel stays in
 *   force as always, so every call after the scope fails until cleared.
 *   An iio_cancel that finds the thread between calls does nothing, in a
 *   shield or not (it ends the call in flight).
 * - Deadlines are not shielded: the call's, the thread's and a
 *   descriptor's (so iio_fd_close still ends the call) apply inside the
 *   scope as outside; give a shielded call a deadline so it cannot hang.
 * Scopes nest; they belong to the thread. iio_shield_end returns 1 when the
 * thread's next call will fail with -ECANCELED (a kept, sticky or group
 * cancel), 0 otherwise, -EINVAL without a matching iio_shield_begin.
 */
void iio_shield_begin(void);
int iio_shield_end(void);
/* 1 inside a shield scope on the calling thread. */
int iio_shielded(void);

/* ---- Deadlines --------------------------------------------------------- */

/* Instants are CLOCK_MONOTONIC nanoseconds; IIO_NEVER is no deadline. */
#define IIO_NEVER 0xffffffffffffffffULL /* UINT64_MAX, spelled so Swift imports it */

/* CLOCK_MONOTONIC now, in nanoseconds. */
uint64_t iio_now_ns(void);

/*
 * Three deadlines can apply to one call, and the tightest wins:
 *   the thread's   iio_deadline_set / iio_deadline_set_for, until changed;
 *   the call's     iio_call_deadline_swap, set around one call by a wrapper;
 *   the source's   iio_deadline_source, a word read at each call start.
 * A call that starts with one of them passed fails with -ETIMEDOUT without
 * entering the kernel (even with data ready); a call in flight when the
 * tightest passes returns -ETIMEDOUT (or its partial count).
 */

/*
 * Sets the calling thread's deadline for its following calls, until set
 * again. Costs a plain store; the timer thread is told only when a call
 * starts under a deadline earlier than any it has scheduled for this thread.
 * Returns 0; 1 when no timer thread could be started for a deadline still
 * ahead (see below); a negative errno if the thread cannot be registered.
 */
int iio_deadline_set(uint64_t deadline_ns);
uint64_t iio_deadline_get(void);

/*
 * Sets another thread's deadline (or the caller's own: safe from a signal
 * handler); it applies at once to the call in flight: an earlier one
 * interrupts it if passed and bounds it otherwise, a later one lets it go on.
 * 0 (1: set, but no timer thread could be started), -ESRCH for an exited
 * thread, -EINVAL for a null handle.
 */
int iio_deadline_set_for(iio_thread_t thread, uint64_t deadline_ns);

/*
 * The call deadline: thread-local, for wrappers that bound one call. Swap
 * in the call's deadline, make the call, restore the previous value; no
 * other thread ever writes it, so a restore never undoes another thread's
 * iio_deadline_set_for. Returns 0; 1 when no timer thread could be started
 * for a deadline still ahead; a negative errno if the thread cannot be
 * registered.
 */
int iio_call_deadline_swap(uint64_t deadline_ns, uint64_t *previous);
void iio_call_deadline_restore(uint64_t previous);

/*
 * Makes the calling thread's following calls also read a deadline from
 * *source at each start (NULL: none). Whoever changes *source calls
 * iio_deadline_changed on the thread using it: its call in flight re-reads
 * the deadlines and goes on, or fails with -ETIMEDOUT if the tightest has
 * passed. This is how per-descriptor deadlines (Go's SetReadDeadline) are
 * built; the memory at source must outlive the calls that use it. The
 * setting is the thread's own and ends with it.
 */
int iio_deadline_source(const uint64_t *source);

/* Sequentially consistent access to a deadline word used as a source. */
void iio_deadline_word_store(uint64_t *word, uint64_t deadline_ns);
uint64_t iio_deadline_word_load(const uint64_t *word);

/* 1 when a call was in flight and was told, 0 if none, -ESRCH exited. */
int iio_deadline_changed(iio_thread_t thread);

/*
 * Tells every thread whose source is *source and that is in a call: each
 * re-reads its deadlines (any number of threads may share one source).
 * The thread's source is published for this when it is set. Costs a pass
 * over the library's thread records: call it when a call may be in flight
 * and the deadline moved earlier (a later one needs no word: each call is
 * reviewed at the deadline it started under, and goes on). Returns how
 * many threads were asked, -EINVAL for NULL.
 */
int iio_deadline_source_changed(const uint64_t *source);

/* A handle as one word (0 for none), for lock-free publication. */
uint64_t iio_thread_pack(iio_thread_t thread);
iio_thread_t iio_thread_unpack(uint64_t packed);

/*
 * Deadlines in the future are fired by one timer thread, started by the
 * first call that needs it: the Swift module's when that module is linked
 * in (it also serves the Swift blocking pool), else the C core's own
 * (driver.c). Setters return 1 when a deadline still ahead was set but no
 * such thread could be started (only the check at each call's start then
 * applies). The protocol between the core and a driver is in
 * interruptio_driver.h, for driver implementers only.
 */

/* ---- Descriptors with Go's net.Conn contract --------------------------- */

/*
 * An iio_fd_t owns a descriptor number and gives it Go's contract:
 *
 * - Per-direction deadlines (SetReadDeadline, SetWriteDeadline,
 *   SetDeadline): absolute CLOCK_MONOTONIC instants that apply to every
 *   call in flight in that direction, from any number of threads, and to
 *   every later call, until changed. Moving a deadline earlier (or into the
 *   past) makes every call in flight re-check: each goes on or fails with
 *   -ETIMEDOUT; moving it later lets them go on. The thread's own deadline
 *   and iio_cancel still apply: the tightest wins.
 * - Close that unblocks (Go's Close): iio_fd_close marks the descriptor
 *   closed, interrupts every call in flight on it in both directions and
 *   WAITS until the last of them has left, then closes the number once.
 *   Every call in flight, and every call made later, fails with -EBADF
 *   (Go's "use of closed network connection") without entering the kernel
 *   on the number, so a number reused by a later open() is never touched.
 *   A call that had already moved data returns its count.
 *
 * Read side: read, readv, recv, recvmsg, accept4. Write side: write,
 * writev, send, sendmsg, shutdown. Each returns like the plain wrapper
 * (a count or a negative errno), plus -EBADF once closed.
 */
typedef struct iio_fd iio_fd_t;

#define IIO_FD_READ 1
#define IIO_FD_WRITE 2
#define IIO_FD_BOTH 3

/* Wraps an open descriptor; the iio_fd_t owns it from now on. 0, -EBADF
 * for a number that is not open, -ENOMEM, -EINVAL for a NULL out. */
int iio_fd_wrap(int number, iio_fd_t **out);
/* The number, or -EBADF once close has begun. Calls made on the number
 * directly are outside the contract (close does not wait for them). */
int iio_fd_number(const iio_fd_t *fd);
/* 1 once close has begun, else 0. */
int iio_fd_closed(const iio_fd_t *fd);

/*
 * Sets the deadline of the read side, the write side or both
 * (IIO_FD_READ, IIO_FD_WRITE, IIO_FD_BOTH); IIO_NEVER removes it. Returns
 * 0; 1 when it was set but no timer thread could be started to fire a
 * deadline still ahead (only the check at each call's start applies); -EBADF once closed; -EINVAL for a
 * bad `which`. Cheap when no call is in flight on that side (two atomic
 * operations); when one is and the deadline moves earlier, the setter
 * looks for the threads in those calls (a pass over the thread records).
 */
int iio_fd_set_deadline(iio_fd_t *fd, int which, uint64_t deadline_ns);
/* The deadline of IIO_FD_READ or IIO_FD_WRITE (0 once closed). */
uint64_t iio_fd_deadline(const iio_fd_t *fd, int which);

/*
 * Closes: see above. Returns 0 (or close(2)'s error other than EINTR;
 * the number is closed either way), -EBADF if close had already begun,
 * -EDEADLK (and does nothing) when called on a thread that is itself
 * inside a call on this descriptor (from a signal handler, however deeply
 * nested in other calls): it would wait for itself. Calls blocked where no signal reaches (a regular file on a
 * disk) keep close waiting until they return.
 */
int iio_fd_close(iio_fd_t *fd);
/* shutdown(2) on the socket (e.g. SHUT_WR after the last write); -EBADF
 * once closed. It does not end calls in flight; the kernel may. */
int iio_fd_shutdown(iio_fd_t *fd, int how);
/* Closes it if still open and frees it. No thread may use fd afterwards;
 * call it after every thread that used it has stopped. */
void iio_fd_free(iio_fd_t *fd);

ssize_t iio_fd_read(iio_fd_t *fd, void *buf, size_t count);
ssize_t iio_fd_write(iio_fd_t *fd, const void *buf, size_t count);
ssize_t iio_fd_readv(iio_fd_t *fd, const struct iovec *iov, int iovcnt);
ssize_t iio_fd_writev(iio_fd_t *fd, const struct iovec *iov, int iovcnt);
ssize_t iio_fd_recv(iio_fd_t *fd, void *buf, size_t len, int flags);
ssize_t iio_fd_send(iio_fd_t *fd, const void *buf, size_t len, int flags);
ssize_t iio_fd_recvmsg(iio_fd_t *fd, struct msghdr *msg, int flags);
ssize_t iio_fd_sendmsg(iio_fd_t *fd, const struct msghdr *msg, int flags);
int iio_fd_accept4(iio_fd_t *fd, struct sockaddr *addr, socklen_t *addrlen,
                   int flags);

/*
 * Any other iio_* call under the descriptor's rules:
 *     iio_fd_call_t c;
 *     int n = iio_fd_begin(fd, IIO_FD_READ, &c);
 *     if (n < 0) return n;
 *     return iio_fd_end(fd, &c, iio_poll(&(struct pollfd){n, POLLIN}, 1, -1));
 * begin returns the number (valid until end) or a negative errno (-EBADF
 * once closed); end must follow on the same thread, and maps the call's
 * result as the wrappers above do. Between them goes exactly one of the
 * library's calls (not another iio_fd_* call: close could not reach it),
 * and `c` must stay where it is until end (it is linked into the thread's
 * calls in progress).
 *
 * Inside every iio_fd_* call, the descriptor's deadline word is the
 * thread's deadline source (in place of one set with iio_deadline_source,
 * which applies again after the call); the thread's own deadline, the call
 * deadline and cancels apply as to any call. A NULL iio_fd_t * gives
 * -EINVAL everywhere.
 */
typedef struct iio_fd_call {
    /* The library's, while the call is in progress: do not touch. */
    const void *previous_source;
    const void *fd;
    struct iio_fd_call *outer;
    int direction;
    int nested;
} iio_fd_call_t;
int iio_fd_begin(iio_fd_t *fd, int direction, iio_fd_call_t *call);
long iio_fd_end(iio_fd_t *fd, const iio_fd_call_t *call, long result);

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
/* poll: timeout_ms < 0 waits forever; the end time is fixed at the call's
 * start, so time spent in signal handlers counts against it. */
int iio_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms);
int iio_openat(int dirfd, const char *path, int flags, mode_t mode);

/* ---- Every other blocking call, by family ------------------------------ */
/*
 * Same convention: the result, or a negative errno; -ECANCELED and
 * -ETIMEDOUT for the library's requests. A call that has moved data returns
 * its count. Which of them the kernel can actually interrupt, and when:
 * RELIABILITY.md, "What the kernel lets us interrupt".
 */

/* Processes. waitid: idtype P_PID, P_PGID, P_ALL, and P_PIDFD on kernels
 * that have it; `info` is a siginfo_t * (void * so that this header compiles
 * under strict C11, where <signal.h> has no siginfo_t). -ECHILD, WNOHANG as
 * waitid(2) and waitpid(2). A wait that was interrupted reaped nothing: the
 * child can be waited for again. */
int iio_waitid(int idtype, unsigned int id, void *info, int options);
pid_t iio_waitpid(pid_t pid, int *status, int options);

/* Locks. flock(2); fcntl(2) with a lock command only (F_SETLK, F_SETLKW,
 * F_GETLK and their F_OFD_ forms; anything else -EINVAL). An interrupted
 * F_SETLKW or F_OFD_SETLKW has taken nothing. */
struct flock;
int iio_flock(int fd, int operation);
int iio_fcntl_lock(int fd, int command, struct flock *lock);

/* Zero-copy transfers (splice(2), tee(2), sendfile(2), copy_file_range(2);
 * offsets are loff_t / off_t, 64-bit). A partial transfer returns its
 * count. recvmmsg/sendmmsg return the number of messages done, which the
 * kernel reports even when it stopped early; recvmmsg takes no timeout
 * argument (the kernel checks it only between datagrams): use a deadline. */
struct mmsghdr;
ssize_t iio_splice(int fd_in, int64_t *offset_in, int fd_out,
                   int64_t *offset_out, size_t length, unsigned int flags);
ssize_t iio_tee(int fd_in, int fd_out, size_t length, unsigned int flags);
ssize_t iio_sendfile(int fd_out, int fd_in, int64_t *offset, size_t count);
ssize_t iio_copy_file_range(int fd_in, int64_t *offset_in, int fd_out,
                            int64_t *offset_out, size_t length,
                            unsigned int flags);
int iio_recvmmsg(int fd, struct mmsghdr *messages, unsigned int count,
                 int flags);
int iio_sendmmsg(int fd, struct mmsghdr *messages, unsigned int count,
                 int flags);

/* Waits with a timeout of their own. The end time is fixed at the call's
 * start (a retry after a foreign signal waits only for what is left); when
 * the call's own timeout expires it returns what the system call returns
 * (0 ready, -EAGAIN for sigtimedwait): -ETIMEDOUT always means a deadline.
 * A mask passed to ppoll, pselect or epoll_pwait2 never blocks the
 * library's signal (it is removed from a copy). sigtimedwait and
 * sigwaitinfo refuse a set holding the library's signal (-EINVAL); `info`
 * is a siginfo_t * or NULL; they return the signal number. */
struct epoll_event;
int iio_ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *timeout,
              const sigset_t *mask);
int iio_select(int nfds, fd_set *readable, fd_set *writable,
               fd_set *exceptional, struct timeval *timeout);
int iio_pselect(int nfds, fd_set *readable, fd_set *writable,
                fd_set *exceptional, const struct timespec *timeout,
                const sigset_t *mask);
int iio_epoll_wait(int epfd, struct epoll_event *events, int max_events,
                   int timeout_ms);
int iio_epoll_pwait2(int epfd, struct epoll_event *events, int max_events,
                     const struct timespec *timeout, const sigset_t *mask);
int iio_sigtimedwait(const sigset_t *set, void *info,
                     const struct timespec *timeout);
int iio_sigwaitinfo(const sigset_t *set, void *info);

/* Sleeping. clock_nanosleep(2) with the library's convention: 0 once the
 * time is reached, a negative errno otherwise (not a positive one); a
 * relative sleep keeps its end across foreign signals, and `remaining` is
 * filled when a relative sleep is cut short. iio_sleep_until: until
 * end_ns on iio_now_ns()'s clock (CLOCK_MONOTONIC). */
int iio_clock_nanosleep(int clock, int flags, const struct timespec *request,
                        struct timespec *remaining);
int iio_sleep_until(uint64_t end_ns);

/* Terminals, drivers, futexes. tcdrain(3) (TCSBRK 1: waits until the
 * output is sent); ioctl(2) for driver waits such as TIOCMIWAIT; a futex
 * wait (FUTEX_WAIT, private unless `shared`): 0 when woken (or
 * spuriously), -EAGAIN when *word != expected. */
int iio_tcdrain(int fd);
int iio_ioctl(int fd, unsigned long request, void *argument);
int iio_futex_wait(const uint32_t *word, uint32_t expected, int shared);

/*
 * The escape hatch: any system call, with the same entry check, requests
 * and deadlines. A foreign EINTR is retried with the same arguments, which
 * is wrong for a call that carries a relative timeout or cannot be
 * restarted (connect): wrap those by hand (timed_waits.c shows how).
 */
long iio_syscall(long number, long a, long b, long c, long d, long e, long f);

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
 * returns its outcome: 0 connected, the negative error from SO_ERROR, or
 * -ENOTCONN when no attempt was ever made (iio_connect failed before
 * calling connect: a passed deadline, a sticky cancel; or a listening
 * socket); -ENOTSOCK for a descriptor that is not a socket.
 */
int iio_connect_finish(int fd);

#ifdef __cplusplus
}
#endif

#endif /* INTERRUPTIO_H */
