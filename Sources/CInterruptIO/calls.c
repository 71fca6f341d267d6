/*
 * Blocking calls with no timeout of their own: processes, locks, zero-copy
 * transfers, terminal and driver waits, futex waits, and the escape hatch.
 * Each is one line over the interruptible operation (syscall.c): a foreign
 * EINTR is retried with the same arguments, which is right for all of them
 * (none has consumed anything when it says EINTR; a transfer that moved
 * bytes returns their count instead).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <termios.h>

#define L(x) ((long)(x))
#define CALL(nr, a, b, c, d, e, f)                                           \
    iio_interruptible_syscall(RETRY_EINTR, nr, L(a), L(b), L(c), L(d), L(e), \
                              L(f))

/* ---- Processes ---------------------------------------------------------- */

pid_t iio_waitpid(pid_t pid, int *status, int options) {
    return (pid_t)CALL(SYS_wait4, pid, status, options, 0, 0, 0);
}

int iio_waitid(int idtype, unsigned int id, void *info, int options) {
    /* The kernel's waitid takes a fifth argument, a struct rusage *. */
    return (int)CALL(SYS_waitid, idtype, id, info, options, 0, 0);
}

/* ---- Locks -------------------------------------------------------------- */

int iio_flock(int fd, int operation) {
    return (int)CALL(SYS_flock, fd, operation, 0, 0, 0, 0);
}

int iio_fcntl_lock(int fd, int command, struct flock *lock) {
    switch (command) {
    case F_SETLK:
    case F_SETLKW:
    case F_GETLK:
    case F_OFD_SETLK:
    case F_OFD_SETLKW:
    case F_OFD_GETLK:
        return (int)CALL(SYS_fcntl, fd, command, lock, 0, 0, 0);
    default:
        return -EINVAL; /* not a lock command: use fcntl itself */
    }
}

/* ---- Zero-copy transfers ------------------------------------------------- */

ssize_t iio_splice(int fd_in, int64_t *offset_in, int fd_out,
                   int64_t *offset_out, size_t length, unsigned int flags) {
    return CALL(SYS_splice, fd_in, offset_in, fd_out, offset_out, length,
                flags);
}

ssize_t iio_tee(int fd_in, int fd_out, size_t length, unsigned int flags) {
    return CALL(SYS_tee, fd_in, fd_out, length, flags, 0, 0);
}

ssize_t iio_sendfile(int fd_out, int fd_in, int64_t *offset, size_t count) {
    return CALL(SYS_sendfile, fd_out, fd_in, offset, count, 0, 0);
}

ssize_t iio_copy_file_range(int fd_in, int64_t *offset_in, int fd_out,
                            int64_t *offset_out, size_t length,
                            unsigned int flags) {
    return CALL(SYS_copy_file_range, fd_in, offset_in, fd_out, offset_out,
                length, flags);
}

/* recvmmsg's own timeout argument is not offered: it is only checked after
 * each datagram (BUGS in recvmmsg(2)); a deadline bounds the call. */
int iio_recvmmsg(int fd, struct mmsghdr *messages, unsigned int count,
                 int flags) {
    return (int)CALL(SYS_recvmmsg, fd, messages, count, flags, 0, 0);
}

int iio_sendmmsg(int fd, struct mmsghdr *messages, unsigned int count,
                 int flags) {
    return (int)CALL(SYS_sendmmsg, fd, messages, count, flags, 0, 0);
}

/* ---- Terminals, drivers, futexes ----------------------------------------- */

int iio_tcdrain(int fd) {
    /* What glibc's and musl's tcdrain do: TCSBRK with a non-zero argument
     * sends no break, it waits until the output is sent. */
    return (int)CALL(SYS_ioctl, fd, TCSBRK, 1, 0, 0, 0);
}

int iio_ioctl(int fd, unsigned long request, void *argument) {
    return (int)CALL(SYS_ioctl, fd, request, argument, 0, 0, 0);
}

int iio_futex_wait(const uint32_t *word, uint32_t expected, int shared) {
    int op = shared ? FUTEX_WAIT : FUTEX_WAIT | FUTEX_PRIVATE_FLAG;
    return (int)CALL(SYS_futex, word, op, expected, 0, 0, 0);
}

/* ---- The escape hatch --------------------------------------------------- */

long iio_syscall(long number, long a, long b, long c, long d, long e,
                 long f) {
    return iio_interruptible_syscall(RETRY_EINTR, number, a, b, c, d, e, f);
}
