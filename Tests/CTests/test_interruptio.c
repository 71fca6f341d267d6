/*
 * Plain C tests of the C API: built with cc alone (no Swift), see .ci/run.
 *   Tests/CTests/build.sh OUT   (cc alone, no Swift)
 * Environment: INTERRUPTIO_STRESS=N multiplies the race and stream rounds;
 * INTERRUPTIO_QUICK=1 divides them by 20 (for valgrind and emulators);
 * INTERRUPTIO_SKIP=name,... skips tests by name (reported as skipped, never
 * as passed), for environments that cannot run them: qemu-user aborts on
 * fork() in a multi-threaded guest.
 */
#include <interruptio.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_harness.h"

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}



/* Cancels until the call is seen in flight, then waits for its return. */
static double cancel_and_join(struct blocked_call *c) {
    sleep_us(20000); /* let it block in the kernel */
    double sent = now_s();
    int r;
    while ((r = iio_cancel(c->handle)) == 0 && !atomic_load(&c->done))
        sched_yield();
    while (!atomic_load(&c->done) && now_s() - sent < 2.0)
        sleep_us(100);
    if (!atomic_load(&c->done))
        return -1; /* still blocked after 2 s: the caller's check fails */
    pthread_join(c->thread, NULL);
    TICK();
    return c->returned_at - sent;
}

struct io_args {
    int fd;
    char *buf;
    size_t len;
};
static long do_read(void *p) {
    struct io_args *a = p;
    return iio_read(a->fd, a->buf, a->len);
}
static long do_write(void *p) {
    struct io_args *a = p;
    return iio_write(a->fd, a->buf, a->len);
}
static long do_recv(void *p) {
    struct io_args *a = p;
    return iio_recv(a->fd, a->buf, a->len, 0);
}
static long do_send(void *p) {
    struct io_args *a = p;
    return iio_send(a->fd, a->buf, a->len, 0);
}
static long do_accept(void *p) {
    struct io_args *a = p;
    return iio_accept4(a->fd, NULL, NULL, SOCK_CLOEXEC);
}
static long do_poll(void *p) {
    struct io_args *a = p;
    struct pollfd pfd = {.fd = a->fd, .events = POLLIN};
    return iio_poll(&pfd, 1, -1);
}

/* ---- Foreign signal handlers installed before iio_init ------------------- */

static _Atomic int chained_calls;
static void counting_handler(int sig, siginfo_t *info, void *ctx) {
    (void)sig, (void)info, (void)ctx;
    atomic_fetch_add(&chained_calls, 1);
}
static _Atomic int usr1_calls;
static void usr1_handler(int sig) {
    (void)sig;
    atomic_fetch_add(&usr1_calls, 1);
}

static void test_init_refuses_owned_signal_then_chains(void) {
    int signo = SIGRTMAX - IIO_DEFAULT_SIGNAL_FROM_RTMAX;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = counting_handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(signo, &sa, NULL);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = usr1_handler;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);

    CHECK_EQ(iio_signal(), 0);
    CHECK_EQ(iio_init(0, 0), -EBUSY);
    CHECK_EQ(iio_signal(), 0);
    CHECK_EQ(iio_init(0, IIO_INIT_CHAIN), 0);
    CHECK_EQ(iio_signal(), signo);
    CHECK_EQ(iio_init(0, 0), 0); /* idempotent */
    CHECK_EQ(iio_init(signo - 1, 0), -EALREADY);
    CHECK_EQ(iio_handler_intact(), 1);
}

static void test_bad_signal_numbers(void) {
    CHECK_EQ(iio_init(-1, 0), -EINVAL);
    CHECK_EQ(iio_init(SIGSEGV, 0), -EINVAL);
    CHECK_EQ(iio_init(SIGKILL, 0), -EINVAL);
    CHECK_EQ(iio_init(32, 0), -EINVAL); /* glibc's own */
    CHECK_EQ(iio_init(33, 0), -EINVAL);
    CHECK_EQ(iio_init(SIGRTMAX + 1, 0), -EINVAL);
}

static void test_bad_input(void) {
    char buf[4];
    CHECK_EQ(iio_read(-1, buf, sizeof buf), -EBADF);
    CHECK_EQ(iio_write(12345, buf, sizeof buf), -EBADF);
    int p[2];
    CHECK(pipe(p) == 0);
    CHECK_EQ(write(p[1], "abc", 3), 3);
    CHECK_EQ(iio_read(p[0], NULL, 10), -EFAULT);
    CHECK_EQ(iio_read(p[0], buf, 3), 3); /* nothing was lost */
    CHECK(memcmp(buf, "abc", 3) == 0);
    CHECK_EQ(iio_write(p[1], NULL, 10), -EFAULT);
    CHECK_EQ(iio_cancel((iio_thread_t){0}), -EINVAL);
    close(p[0]);
    close(p[1]);
}

static void test_read_on_pipe_cancelled_then_reusable(void) {
    int p[2];
    CHECK(pipe(p) == 0);
    char buf[16] = {0};
    struct io_args a = {p[0], buf, sizeof buf};
    struct blocked_call c;
    start_call(&c, do_read, &a);
    double took = cancel_and_join(&c);
    CHECK(took >= 0 && took < 2.0);
    CHECK_EQ(c.result, -ECANCELED);
    CHECK_EQ(write(p[1], "hello", 5), 5);
    CHECK_EQ(iio_read(p[0], buf, sizeof buf), 5);
    CHECK(memcmp(buf, "hello", 5) == 0);
    close(p[0]);
    close(p[1]);
}

static void test_recv_on_socketpair_cancelled_then_reusable(void) {
    int s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    char buf[16] = {0};
    struct io_args a = {s[0], buf, sizeof buf};
    struct blocked_call c;
    start_call(&c, do_read, &a);
    double took = cancel_and_join(&c);
    CHECK(took >= 0 && took < 2.0);
    CHECK_EQ(c.result, -ECANCELED);
    start_call(&c, do_recv, &a);
    took = cancel_and_join(&c);
    CHECK(took >= 0 && took < 2.0);
    CHECK_EQ(c.result, -ECANCELED);
    CHECK_EQ(iio_send(s[1], "world", 5, 0), 5);
    CHECK_EQ(iio_recv(s[0], buf, sizeof buf, 0), 5);
    CHECK(memcmp(buf, "world", 5) == 0);
    close(s[0]);
    close(s[1]);
}

static void test_write_into_full_pipe_cancelled(void) {
    int p[2];
    CHECK(pipe(p) == 0);
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    char fill[4096];
    memset(fill, 'f', sizeof fill);
    long filled = 0;
    for (;;) {
        ssize_t n = write(p[1], fill, sizeof fill);
        if (n <= 0)
            break;
        filled += n;
    }
    fcntl(p[1], F_SETFL, 0);
    char more[8] = "MOREDATA";
    struct io_args a = {p[1], more, sizeof more};
    struct blocked_call c;
    start_call(&c, do_write, &a);
    double took = cancel_and_join(&c);
    CHECK(took >= 0 && took < 2.0);
    CHECK_EQ(c.result, -ECANCELED);
    /* Drain exactly what was written, then the writer works again. */
    char sink[4096];
    long drained = 0;
    while (drained < filled) {
        ssize_t n = read(p[0], sink, sizeof sink);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if (sink[i] != 'f')
                test_ok = false;
        drained += n;
    }
    CHECK_EQ(drained, filled);
    CHECK_EQ(iio_write(p[1], more, sizeof more), (long)sizeof more);
    char back[8];
    CHECK_EQ(iio_read(p[0], back, sizeof back), (long)sizeof back);
    CHECK(memcmp(back, more, sizeof more) == 0);
    close(p[0]);
    close(p[1]);
}

static void test_send_into_full_socket_cancelled(void) {
    int s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    int small = 4096;
    setsockopt(s[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    fcntl(s[0], F_SETFL, O_NONBLOCK);
    char fill[1024];
    memset(fill, 'x', sizeof fill);
    while (send(s[0], fill, sizeof fill, 0) > 0) {
    }
    fcntl(s[0], F_SETFL, 0);
    struct io_args a = {s[0], fill, sizeof fill};
    struct blocked_call c;
    start_call(&c, do_send, &a);
    double took = cancel_and_join(&c);
    CHECK(took >= 0 && took < 2.0);
    /* Either nothing moved (cancelled) or a partial count: never an error
     * that hides bytes already sent. */
    CHECK(c.result == -ECANCELED || (c.result > 0 && c.result < 1024));
    close(s[0]);
    close(s[1]);
}

static int listening_socket(int backlog, struct sockaddr_in *addr) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)addr, sizeof *addr);
    socklen_t len = sizeof *addr;
    getsockname(fd, (struct sockaddr *)addr, &len);
    listen(fd, backlog);
    return fd;
}

static void test_accept_cancelled_then_reusable(void) {
    struct sockaddr_in addr;
    int lfd = listening_socket(4, &addr);
    struct io_args a = {lfd, NULL, 0};
    struct blocked_call c;
    start_call(&c, do_accept, &a);
    double took = cancel_and_join(&c);
    CHECK(took >= 0 && took < 2.0);
    CHECK_EQ(c.result, -ECANCELED);
    int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK_EQ(iio_connect(client, (struct sockaddr *)&addr, sizeof addr), 0);
    int server = iio_accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    CHECK(server >= 0);
    CHECK_EQ(iio_write(client, "hi", 2), 2);
    char buf[2];
    CHECK_EQ(iio_read(server, buf, 2), 2);
    close(server);
    close(client);
    close(lfd);
}

struct connect_args {
    int fd;
    struct sockaddr_in addr;
};
static long do_connect(void *p) {
    struct connect_args *a = p;
    return iio_connect(a->fd, (struct sockaddr *)&a->addr, sizeof a->addr);
}

struct acceptor {
    int lfd;
    iio_thread_t handle;
    _Atomic int ready;
    _Atomic int accepted;
    _Atomic int done;
    int fds[32];
};
static void *accept_all(void *p) {
    struct acceptor *a = p;
    iio_self(&a->handle);
    atomic_store(&a->ready, 1);
    for (;;) {
        int fd = iio_accept4(a->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            break; /* cancelled at the end of the test */
        int n = atomic_load(&a->accepted);
        if (n < 32)
            a->fds[n] = fd;
        atomic_store(&a->accepted, n + 1);
    }
    atomic_store(&a->done, 1);
    return NULL;
}

/*
 * Non-blocking connects fill the listener's queues until one no longer
 * completes: from then on the kernel drops SYNs and a blocking connect
 * waits. Cancelled, the attempt goes on in the kernel: once an acceptor
 * makes room, a retransmitted SYN is answered and iio_connect_finish
 * reports success.
 */
static void test_connect_cancelled_then_finished(void) {
    struct sockaddr_in addr;
    int lfd = listening_socket(0, &addr);
    int fillers[16], nfill = 0;
    bool queue_full = false;
    while (nfill < 16 && !queue_full) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        fillers[nfill++] = fd;
        if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0)
            continue;
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        queue_full = poll(&pfd, 1, 200) == 0;
    }
    CHECK(queue_full);
    struct connect_args a = {socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
                             addr};
    struct blocked_call c;
    start_call(&c, do_connect, &a);
    double took = cancel_and_join(&c);
    CHECK(took >= 0 && took < 2.0);
    CHECK_EQ(c.result, -ECANCELED);
    /* On a blocking socket a second connect waits for the same attempt. */
    start_call(&c, do_connect, &a);
    took = cancel_and_join(&c);
    CHECK(took >= 0 && took < 2.0);
    CHECK_EQ(c.result, -ECANCELED);
    struct acceptor acc = {.lfd = lfd};
    pthread_t at;
    pthread_create(&at, NULL, accept_all, &acc);
    while (!atomic_load(&acc.ready))
        sched_yield();
    double start = now_s();
    CHECK_EQ(iio_connect_finish(a.fd), 0);
    CHECK(now_s() - start < 15.0);
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    CHECK_EQ(getpeername(a.fd, (struct sockaddr *)&peer, &plen), 0);
    CHECK_EQ(iio_write(a.fd, "ok", 2), 2);
    /* A cancel that meets a completing accept leaves its result intact, so
     * keep asking until the acceptor is out. */
    while (!atomic_load(&acc.done)) {
        iio_cancel(acc.handle);
        sleep_us(1000);
    }
    pthread_join(at, NULL);
    for (int i = 0; i < atomic_load(&acc.accepted) && i < 32; i++)
        close(acc.fds[i]);
    for (int i = 0; i < nfill; i++)
        close(fillers[i]);
    close(a.fd);
    close(lfd);
}

static void test_poll_cancelled(void) {
    int p[2];
    CHECK(pipe(p) == 0);
    struct io_args a = {p[0], NULL, 0};
    struct blocked_call c;
    start_call(&c, do_poll, &a);
    double took = cancel_and_join(&c);
    CHECK(took >= 0 && took < 2.0);
    CHECK_EQ(c.result, -ECANCELED);
    CHECK_EQ(write(p[1], "x", 1), 1);
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    CHECK_EQ(iio_poll(&pfd, 1, 1000), 1);
    CHECK(pfd.revents & POLLIN);
    pfd.revents = 0;
    close(p[0]);
    close(p[1]);
    int q[2];
    CHECK(pipe(q) == 0);
    pfd.fd = q[0];
    double start = now_s();
    CHECK_EQ(iio_poll(&pfd, 1, 50), 0); /* the timeout itself still works */
    CHECK(now_s() - start >= 0.045);
    close(q[0]);
    close(q[1]);
}

static char fifo_path[64];
static long do_open_fifo(void *p) {
    (void)p;
    return iio_openat(AT_FDCWD, fifo_path, O_RDONLY | O_CLOEXEC, 0);
}

static void test_openat_fifo_cancelled(void) {
    snprintf(fifo_path, sizeof fifo_path, "/tmp/iio-fifo-%d", (int)getpid());
    unlink(fifo_path);
    CHECK(mkfifo(fifo_path, 0600) == 0);
    struct blocked_call c;
    start_call(&c, do_open_fifo, NULL);
    double took = cancel_and_join(&c);
    CHECK(took >= 0 && took < 2.0);
    CHECK_EQ(c.result, -ECANCELED);
    start_call(&c, do_open_fifo, NULL);
    sleep_us(20000);
    int writer = open(fifo_path, O_WRONLY | O_CLOEXEC);
    CHECK(writer >= 0);
    pthread_join(c.thread, NULL);
    CHECK(c.result >= 0);
    CHECK_EQ(write(writer, "f", 1), 1);
    char buf;
    CHECK_EQ(iio_read((int)c.result, &buf, 1), 1);
    close((int)c.result);
    close(writer);
    unlink(fifo_path);
}

static void test_sticky_cancel(void) {
    iio_thread_t self;
    CHECK_EQ(iio_self(&self), 0);
    int p[2];
    CHECK(pipe(p) == 0);
    CHECK_EQ(write(p[1], "ab", 2), 2);
    CHECK_EQ(iio_cancel_sticky(self), 0); /* not in flight, still sticky */
    CHECK_EQ(iio_self_cancelled(), 1);
    char buf[2];
    CHECK_EQ(iio_read(p[0], buf, 1), -ECANCELED); /* data waiting, no call */
    CHECK_EQ(iio_read(p[0], buf, 1), -ECANCELED);
    CHECK_EQ(iio_clear_cancel(self), 0);
    CHECK_EQ(iio_self_cancelled(), 0);
    CHECK_EQ(iio_read(p[0], buf, 2), 2);
    CHECK(memcmp(buf, "ab", 2) == 0);

    /* Sticky on a blocked thread: the call returns and later ones fail. */
    struct io_args a = {p[0], buf, 1};
    struct blocked_call c;
    start_call(&c, do_read, &a);
    sleep_us(20000);
    while (iio_cancel_sticky(c.handle) == 0 && !atomic_load(&c.done))
        sched_yield();
    pthread_join(c.thread, NULL);
    CHECK_EQ(c.result, -ECANCELED);
    close(p[0]);
    close(p[1]);
}

static void test_cancel_when_idle_or_exited(void) {
    iio_thread_t self;
    CHECK_EQ(iio_self(&self), 0);
    CHECK_EQ(iio_cancel(self), 0); /* we are not in an operation */
    int p[2];
    CHECK(pipe(p) == 0);
    CHECK_EQ(write(p[1], "z", 1), 1);
    char buf;
    CHECK_EQ(iio_read(p[0], &buf, 1), 1); /* the idle cancel did not stick */

    struct io_args a = {p[0], &buf, 1};
    struct blocked_call c;
    CHECK_EQ(write(p[1], "y", 1), 1);
    start_call(&c, do_read, &a);
    pthread_join(c.thread, NULL);
    CHECK_EQ(c.result, 1);
    CHECK_EQ(iio_cancel(c.handle), -ESRCH);
    CHECK_EQ(iio_cancel_sticky(c.handle), -ESRCH);
    CHECK_EQ(iio_clear_cancel(c.handle), -ESRCH);
    close(p[0]);
    close(p[1]);
}

static void test_foreign_signals(void) {
    int signo = iio_signal();
    int before = atomic_load(&chained_calls);
    int p[2];
    CHECK(pipe(p) == 0);
    char buf[4];
    struct io_args a = {p[0], buf, sizeof buf};
    struct blocked_call c;
    start_call(&c, do_read, &a);
    sleep_us(20000);
    /* Our signal from kill(): not a request, so nothing is cancelled and
     * the handler installed before ours sees it. */
    kill(getpid(), signo);
    sleep_us(20000);
    pthread_kill(c.thread, signo); /* tgkill without a request: stale */
    sleep_us(50000);
    CHECK(!atomic_load(&c.done));
    CHECK(atomic_load(&chained_calls) >= before + 2);
    /* SIGUSR1 (SA_RESTART, installed before init) is left as it was. */
    struct sigaction sa;
    sigaction(SIGUSR1, NULL, &sa);
    CHECK(sa.sa_handler == usr1_handler && (sa.sa_flags & SA_RESTART));
    pthread_kill(c.thread, SIGUSR1);
    sleep_us(50000);
    CHECK(!atomic_load(&c.done));
    CHECK_EQ(write(p[1], "data", 4), 4);
    pthread_join(c.thread, NULL);
    /* (ThreadSanitizer runs the handler only once the call has returned.) */
    CHECK(atomic_load(&usr1_calls) >= 1);
    CHECK_EQ(c.result, 4);
    CHECK(memcmp(buf, "data", 4) == 0);
    close(p[0]);
    close(p[1]);
}

/* ---- Race: cancels aimed at the instant of syscall entry ------------------ */

struct race {
    int fd;
    iio_thread_t handle;
    _Atomic int round;      /* the reader's round, published before it reads */
    _Atomic int finished;   /* last round whose read returned */
    _Atomic long cancelled;
    _Atomic int bad;
};

static void *race_reader(void *p) {
    struct race *r = p;
    iio_self(&r->handle);
    char buf[8];
    for (int round = 1;; round++) {
        atomic_store(&r->round, round);
        long n = iio_read(r->fd, buf, sizeof buf);
        if (n == 0)
            break; /* writer side closed: done */
        if (n == -ECANCELED)
            atomic_fetch_add(&r->cancelled, 1);
        else
            atomic_store(&r->bad, 1);
        atomic_store(&r->finished, round);
        TICK();
    }
    return NULL;
}

/*
 * Each round the canceller waits a random 0-20 us after the reader announced
 * it is about to read an empty socket, then cancels. Many requests land
 * between op begin and the syscall instruction: a lost one hangs the round
 * (the watchdog fails the program).
 */
static void race_rounds(int rounds) {
    int s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    struct race r = {.fd = s[0]};
    pthread_t reader;
    pthread_create(&reader, NULL, race_reader, &r);
    unsigned seed = 12345;
    for (int round = 1; round <= rounds; round++) {
        while (atomic_load(&r.round) < round)
            sched_yield();
        long spin = rand_r(&seed) % 4000;
        for (volatile long i = 0; i < spin; i++)
            ;
        while (atomic_load(&r.finished) < round)
            if (iio_cancel(r.handle) == 0)
                sched_yield();
    }
    close(s[1]);
    while (atomic_load(&r.round) <= rounds)
        sched_yield();
    /* The last round sees EOF once the peer is closed. */
    pthread_join(reader, NULL);
    CHECK_EQ(atomic_load(&r.bad), 0);
    /* A request sent just as round N returned may land in round N + 1,
     * which is in flight then: so the last round, too, may be cancelled. */
    long cancelled = atomic_load(&r.cancelled);
    CHECK(cancelled == rounds || cancelled == rounds + 1);
    close(s[0]);
}

/* Scales a default round count by INTERRUPTIO_STRESS / INTERRUPTIO_QUICK. */
static int rounds(int base) {
    const char *s = getenv("INTERRUPTIO_STRESS");
    if (s && atoi(s) > 0)
        return base * atoi(s);
    return getenv("INTERRUPTIO_QUICK") ? base / 20 : base;
}

static void test_race_cancel_at_entry_pc_window(void) {
    if (iio_set_entry_mode(IIO_ENTRY_PC_WINDOW) != 0) {
        fprintf(stderr, "  PC window not available in this build\n");
        test_ok = false;
        return;
    }
    race_rounds(rounds(20000));
}

static void test_race_cancel_at_entry_portable(void) {
    CHECK_EQ(iio_set_entry_mode(IIO_ENTRY_PORTABLE), 0);
    race_rounds(rounds(5000));
    iio_set_entry_mode(IIO_ENTRY_PC_WINDOW);
}

/* ---- A sequence-numbered stream under random cancels --------------------- */

struct stream {
    int fd;
    uint32_t count;           /* at least this many words... */
    long min_requests;        /* ...and on until this many cancels were sent */
    _Atomic long *requests;
    _Atomic uint32_t *written; /* the writer's final count */
    iio_thread_t handle;
    _Atomic int ready;
    _Atomic int done;
    _Atomic long cancels_seen;
    _Atomic long partials;
    _Atomic int corrupt;
};

static void *stream_writer(void *p) {
    struct stream *st = p;
    iio_self(&st->handle);
    atomic_store(&st->ready, 1);
    uint32_t block[64];
    uint32_t next = 0;
    while (next < st->count || atomic_load(st->requests) < st->min_requests) {
        uint32_t n = 64;
        for (uint32_t i = 0; i < n; i++)
            block[i] = next + i;
        size_t off = 0, len = n * sizeof(uint32_t);
        while (off < len) {
            long w = iio_write(st->fd, (char *)block + off, len - off);
            if (w == -ECANCELED) {
                atomic_fetch_add(&st->cancels_seen, 1);
                continue;
            }
            if (w <= 0) {
                atomic_store(&st->corrupt, 1);
                goto out;
            }
            if ((size_t)w < len - off)
                atomic_fetch_add(&st->partials, 1);
            off += (size_t)w;
        }
        next += n;
        TICK();
    }
out:
    atomic_store(st->written, next);
    shutdown(st->fd, SHUT_WR);
    atomic_store(&st->done, 1);
    return NULL;
}

static void *stream_reader(void *p) {
    struct stream *st = p;
    iio_self(&st->handle);
    atomic_store(&st->ready, 1);
    union {
        uint32_t words[97];
        char bytes[97 * 4];
    } buf;
    size_t have = 0;
    uint32_t expect = 0;
    for (;;) {
        long r = iio_read(st->fd, buf.bytes + have, sizeof buf - have);
        if (r == -ECANCELED) {
            atomic_fetch_add(&st->cancels_seen, 1);
            continue;
        }
        if (r <= 0)
            break;
        have += (size_t)r;
        size_t whole = have / 4;
        for (size_t i = 0; i < whole; i++)
            if (buf.words[i] != expect++)
                atomic_store(&st->corrupt, 1);
        memmove(buf.bytes, buf.bytes + whole * 4, have - whole * 4);
        have -= whole * 4;
    }
    if (expect != atomic_load(st->written) || have != 0)
        atomic_store(&st->corrupt, 1);
    atomic_store(&st->done, 1);
    return NULL;
}

static void stream_under_cancels(uint32_t count, long min_requests) {
    int s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    int small = 2048;
    setsockopt(s[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(s[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    _Atomic long requests = 0;
    _Atomic uint32_t written = 0;
    struct stream w = {.fd = s[0], .count = count, .min_requests = min_requests,
                       .requests = &requests, .written = &written};
    struct stream r = w;
    r.fd = s[1];
    pthread_t wt, rt;
    pthread_create(&wt, NULL, stream_writer, &w);
    pthread_create(&rt, NULL, stream_reader, &r);
    while (!atomic_load(&w.ready) || !atomic_load(&r.ready))
        sched_yield();
    unsigned seed = 99;
    while (!atomic_load(&r.done)) {
        long spin = rand_r(&seed) % 3000;
        for (volatile long i = 0; i < spin; i++)
            ;
        if (!atomic_load(&w.done))
            atomic_fetch_add(&requests, iio_cancel(w.handle) == 1);
        atomic_fetch_add(&requests, iio_cancel(r.handle) == 1);
    }
    pthread_join(wt, NULL);
    pthread_join(rt, NULL);
    CHECK_EQ(atomic_load(&w.corrupt), 0);
    CHECK_EQ(atomic_load(&r.corrupt), 0);
    CHECK(atomic_load(&requests) >= min_requests);
    printf("     %u words, %ld cancels sent, %ld + %ld seen, %ld partial "
           "writes\n",
           atomic_load(&written), atomic_load(&requests), atomic_load(&w.cancels_seen),
           atomic_load(&r.cancels_seen), atomic_load(&w.partials));
    close(s[0]);
    close(s[1]);
}

static void test_stream_intact_under_cancels_pc_window(void) {
    stream_under_cancels((uint32_t)rounds(200000), 1000);
}

static void test_stream_intact_under_cancels_portable(void) {
    CHECK_EQ(iio_set_entry_mode(IIO_ENTRY_PORTABLE), 0);
    /* Each portable request waits for its acknowledgement: fewer of them. */
    stream_under_cancels((uint32_t)rounds(50000), 20);
    iio_set_entry_mode(IIO_ENTRY_PC_WINDOW);
}

/* ---- Thread churn -------------------------------------------------------- */

#define CHURN_SLOTS 8
static iio_thread_t churn_handles[CHURN_SLOTS];
static pthread_mutex_t churn_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int churn_stop;
static _Atomic int churn_bad;

static void *churn_worker(void *p) {
    long slot = (long)p;
    iio_thread_t self;
    iio_self(&self);
    pthread_mutex_lock(&churn_lock);
    churn_handles[slot] = self;
    pthread_mutex_unlock(&churn_lock);
    int fds[2];
    if (pipe(fds) != 0)
        return NULL;
    for (int i = 0; i < 3; i++) {
        char c = 'c';
        long w = iio_write(fds[1], &c, 1);
        if (w != 1 && w != -ECANCELED)
            atomic_store(&churn_bad, 1);
        if (w == 1) {
            long r;
            while ((r = iio_read(fds[0], &c, 1)) == -ECANCELED) {
            }
            if (r != 1 || c != 'c')
                atomic_store(&churn_bad, 1);
        }
    }
    close(fds[0]);
    close(fds[1]);
    return NULL;
}

static void *churn_canceller(void *p) {
    (void)p;
    long results[3] = {0};
    while (!atomic_load(&churn_stop)) {
        for (int i = 0; i < CHURN_SLOTS; i++) {
            pthread_mutex_lock(&churn_lock);
            iio_thread_t h = churn_handles[i];
            pthread_mutex_unlock(&churn_lock);
            if (h.record == NULL)
                continue;
            int r = iio_cancel(h);
            if (r == 1 || r == 0 || r == -ESRCH)
                results[r == -ESRCH ? 2 : r]++;
            else
                atomic_store(&churn_bad, 1);
        }
    }
    return NULL;
}

static void test_thread_churn(void) {
    pthread_t canceller;
    pthread_create(&canceller, NULL, churn_canceller, NULL);
    double end = now_s() + 1.5, limit = now_s() + 20;
    int made = 0;
    while ((now_s() < end || made <= 100) && now_s() < limit) {
        pthread_t t[CHURN_SLOTS];
        for (long i = 0; i < CHURN_SLOTS; i++)
            pthread_create(&t[i], NULL, churn_worker, (void *)i);
        for (int i = 0; i < CHURN_SLOTS; i++)
            pthread_join(t[i], NULL);
        made += CHURN_SLOTS;
        TICK();
    }
    atomic_store(&churn_stop, 1);
    pthread_join(canceller, NULL);
    CHECK_EQ(atomic_load(&churn_bad), 0);
    CHECK(made > 100);
    /* A stale handle from a slot never names the thread now in the record. */
    for (int i = 0; i < CHURN_SLOTS; i++)
        CHECK_EQ(iio_cancel(churn_handles[i]), -ESRCH);
}

/* ---- Cancellation groups ------------------------------------------------- */

struct member {
    iio_group_t *group;
    int fd;
    pthread_t thread;
    _Atomic int joined;
    long first, second, after_reset;
    _Atomic int reset_done;
    _Atomic int second_done;
};

static void *group_member_main(void *p) {
    struct member *m = p;
    iio_group_join(m->group);
    atomic_store(&m->joined, 1);
    char c;
    m->first = iio_read(m->fd, &c, 1);  /* blocks until the group is cancelled */
    m->second = iio_read(m->fd, &c, 1); /* fails at once: still cancelled */
    atomic_store(&m->second_done, 1);
    while (!atomic_load(&m->reset_done))
        sched_yield();
    m->after_reset = iio_read(m->fd, &c, 1); /* data was written */
    iio_group_leave(m->group);
    return NULL;
}

static void test_group_cancels_every_member_until_reset(void) {
    enum { N = 8 };
    iio_group_t *group = iio_group_create();
    CHECK(group != NULL);
    struct member m[N];
    int fds[N][2];
    for (int i = 0; i < N; i++) {
        CHECK(pipe(fds[i]) == 0);
        memset(&m[i], 0, sizeof m[i]);
        m[i].group = group;
        m[i].fd = fds[i][0];
        pthread_create(&m[i].thread, NULL, group_member_main, &m[i]);
    }
    for (int i = 0; i < N; i++)
        while (!atomic_load(&m[i].joined))
            sched_yield();
    sleep_us(30000);
    double start = now_s();
    int in_flight = iio_group_cancel(group);
    CHECK(in_flight >= 1 && in_flight <= N);
    CHECK_EQ(iio_group_cancelled(group), 1);
    for (int i = 0; i < N; i++)
        while (!atomic_load(&m[i].second_done) && now_s() - start < 2.0)
            sleep_us(100);
    CHECK(now_s() - start < 2.0);
    /* A thread joining a cancelled group is cancelled at once. */
    CHECK_EQ(iio_group_join(group), -ECANCELED);
    char c;
    CHECK_EQ(iio_read(fds[0][0], &c, 1), -ECANCELED);
    CHECK_EQ(iio_group_leave(group), 0);
    CHECK_EQ(iio_group_leave(group), -ENOENT);
    for (int i = 0; i < N; i++)
        CHECK_EQ(write(fds[i][1], "r", 1), 1);
    CHECK_EQ(iio_group_reset(group), 0);
    CHECK_EQ(iio_group_cancelled(group), 0);
    for (int i = 0; i < N; i++)
        atomic_store(&m[i].reset_done, 1);
    for (int i = 0; i < N; i++) {
        pthread_join(m[i].thread, NULL);
        CHECK_EQ(m[i].first, -ECANCELED);
        CHECK_EQ(m[i].second, -ECANCELED);
        CHECK_EQ(m[i].after_reset, 1);
        close(fds[i][0]);
        close(fds[i][1]);
    }
    iio_group_destroy(group);
    TICK();
}

/* ---- Blocked mask and fork ------------------------------------------------ */

static void test_interruptible_check_sees_blocked_mask(void) {
    iio_thread_t self;
    CHECK_EQ(iio_self(&self), 0);
    CHECK_EQ(iio_thread_interruptible(), 1);
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, iio_signal());
    pthread_sigmask(SIG_BLOCK, &set, &old);
    CHECK_EQ(iio_thread_interruptible(), 0);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    CHECK_EQ(iio_thread_interruptible(), 1);
}

static void *blocks_everything_then_registers(void *p) {
    (void)p;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* as Dispatch threads do */
    iio_thread_t self;
    long ok = iio_self(&self) == 0 && iio_thread_interruptible() == 1;
    return (void *)ok;
}

static void test_registration_unblocks_signal(void) {
    pthread_t t;
    void *ok = NULL;
    pthread_create(&t, NULL, blocks_everything_then_registers, NULL);
    pthread_join(t, &ok);
    CHECK(ok == (void *)1);
}

/* In a fork child: cancel a read of a thread of the child's own; exits 0 on
 * success. */
static void child_cancels_its_own_thread(void) {
    int p[2];
    if (pipe(p) != 0)
        _exit(10);
    char buf;
    struct io_args a = {p[0], &buf, 1};
    struct blocked_call c;
    start_call(&c, do_read, &a);
    double took = cancel_and_join(&c);
    _exit(took >= 0 && c.result == -ECANCELED ? 0 : 11);
}

/* Waits up to 5 s for the child (killed after that) and checks it passed. */
static void expect_child_passes(pid_t child) {
    int status = 0;
    for (int waited = 0;
         waited < 500 && waitpid(child, &status, WNOHANG) != child; waited++)
        sleep_us(10000);
    if (!WIFEXITED(status)) {
        kill(child, SIGKILL);
        waitpid(child, &status, 0);
    }
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
}

static void test_fork_child_can_cancel(void) {
    pid_t child = fork();
    if (child == 0)
        child_cancels_its_own_thread();
    expect_child_passes(child);
}

/* ---- Settled behaviours: chaining, mode switches, long handlers, limits -- */

/*
 * A late copy of our own signal (sent for a call that finished before the
 * thread took it) is the library's: dropped, never passed to the handler
 * that owned the signal before us.
 */
static void test_stale_own_signal_never_reaches_chained_handler(void) {
    int p[2];
    CHECK(pipe(p) == 0);
    char buf[4];
    struct io_args a = {p[0], buf, sizeof buf};
    struct blocked_call c;
    int before = atomic_load(&chained_calls);
    for (int round = 0; round < 20; round++) {
        start_call(&c, do_read, &a);
        sleep_us(2000);
        iio_cancel(c.handle); /* the signal lands; the read ends */
        pthread_join(c.thread, NULL);
        CHECK_EQ(c.result, -ECANCELED);
    }
    CHECK_EQ(atomic_load(&chained_calls), before);
    close(p[0]);
    close(p[1]);
}

/* A thread blocks our signal, reads, is cancelled (the signal stays
 * queued), its read completes on data, then it unblocks: the queued copy
 * is stale and must be dropped. */
struct stale_reader {
    int fd;
    iio_thread_t handle;
    _Atomic int stage;
    long result;
};
static void *stale_reader_main(void *p) {
    struct stale_reader *r = p;
    sigset_t ours;
    sigemptyset(&ours);
    sigaddset(&ours, iio_signal());
    iio_self(&r->handle);
    pthread_sigmask(SIG_BLOCK, &ours, NULL);
    atomic_store(&r->stage, 1);
    char buf[4];
    r->result = iio_read(r->fd, buf, sizeof buf);
    pthread_sigmask(SIG_UNBLOCK, &ours, NULL); /* the stale copy arrives */
    atomic_store(&r->stage, 2);
    return NULL;
}

static void test_queued_stale_signal_is_dropped(void) {
    int p[2];
    CHECK(pipe(p) == 0);
    int before = atomic_load(&chained_calls);
    struct stale_reader r = {.fd = p[0]};
    pthread_t t;
    pthread_create(&t, NULL, stale_reader_main, &r);
    while (atomic_load(&r.stage) < 1)
        sched_yield();
    sleep_us(20000);
    CHECK_EQ(iio_cancel(r.handle), 1); /* queued: the mask blocks it */
    sleep_us(20000);
    CHECK_EQ(write(p[1], "data", 4), 4);
    pthread_join(t, NULL);
    CHECK_EQ(r.result, 4);
    CHECK_EQ(atomic_load(&chained_calls), before);
    close(p[0]);
    close(p[1]);
}

/*
 * Sub-process scenarios that need a process whose library is not yet set
 * up: this binary re-executed with an argument (see main).
 */
static const char *self_path; /* argv[0]: under valgrind /proc/self/exe is
                                 valgrind's own launcher */
static int run_self(const char *scenario) {
    pid_t child = fork();
    if (child == 0) {
        execl(self_path, self_path, scenario, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    for (int waited = 0; waited < 10000; waited += 10) {
        if (waitpid(child, &status, WNOHANG) == child)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        sleep_us(10000);
    }
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    return 999; /* hung */
}

static _Atomic int prev_calls;
static _Atomic int prev_saw_usr2_blocked, prev_saw_own_blocked;
static void mask_probing_handler(int sig, siginfo_t *info, void *ctx) {
    (void)info, (void)ctx;
    sigset_t now;
    pthread_sigmask(SIG_BLOCK, NULL, &now);
    atomic_store(&prev_saw_usr2_blocked, sigismember(&now, SIGUSR2));
    atomic_store(&prev_saw_own_blocked, sigismember(&now, sig));
    atomic_fetch_add(&prev_calls, 1);
}

/* Child: a previous handler with sa_mask {SIGUSR2} and the given flags. */
static int chain_scenario(int extra_flags) {
    int signo = SIGRTMAX - IIO_DEFAULT_SIGNAL_FROM_RTMAX;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = mask_probing_handler;
    sa.sa_flags = SA_SIGINFO | extra_flags;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sigaction(signo, &sa, NULL);
    if (iio_init(0, IIO_INIT_CHAIN) != 0)
        return 20;
    kill(getpid(), signo);
    if (atomic_load(&prev_calls) != 1)
        return 21;
    if (atomic_load(&prev_saw_usr2_blocked) != 1)
        return 22; /* its sa_mask was not applied */
    int own_blocked = atomic_load(&prev_saw_own_blocked);
    if ((extra_flags & SA_NODEFER) ? own_blocked != 0 : own_blocked != 1)
        return 23;
    sigset_t now;
    pthread_sigmask(SIG_BLOCK, NULL, &now);
    if (sigismember(&now, SIGUSR2))
        return 24; /* the mask leaked past the handler */
    kill(getpid(), signo);
    int expected = (extra_flags & SA_RESETHAND) ? 1 : 2;
    if (atomic_load(&prev_calls) != expected)
        return 25;
    return 0;
}

static void test_chained_handler_runs_with_its_mask_and_flags(void) {
    CHECK_EQ(run_self("--chain"), 0);
    CHECK_EQ(run_self("--chain-nodefer"), 0);
    CHECK_EQ(run_self("--chain-resethand"), 0);
}

/*
 * The entry path switched while calls are in flight: each operation keeps
 * the path it entered by and a request reaches it on that path. A request
 * that judged by the current mode would send once to a portable
 * operation and could lose it in the entry gap (the watchdog fails a hang).
 */
static void test_race_with_entry_mode_switching(void) {
    if (!iio_pc_window_available()) {
        CHECK_EQ(iio_set_entry_mode(IIO_ENTRY_PC_WINDOW), -ENOTSUP);
        return;
    }
    int s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    struct race r = {.fd = s[0]};
    pthread_t reader;
    pthread_create(&reader, NULL, race_reader, &r);
    unsigned seed = 777;
    int total = rounds(4000);
    for (int round = 1; round <= total; round++) {
        while (atomic_load(&r.round) < round)
            sched_yield();
        iio_set_entry_mode(rand_r(&seed) & 1 ? IIO_ENTRY_PORTABLE
                                             : IIO_ENTRY_PC_WINDOW);
        long spin = rand_r(&seed) % 4000;
        for (volatile long i = 0; i < spin; i++)
            ;
        iio_set_entry_mode(rand_r(&seed) & 1 ? IIO_ENTRY_PORTABLE
                                             : IIO_ENTRY_PC_WINDOW);
        while (atomic_load(&r.finished) < round)
            if (iio_cancel(r.handle) == 0)
                sched_yield();
    }
    close(s[1]);
    pthread_join(reader, NULL);
    CHECK_EQ(atomic_load(&r.bad), 0);
    close(s[0]);
    iio_set_entry_mode(IIO_ENTRY_PC_WINDOW);
}

/*
 * A request lasts as long as its operation: the target sits 1.2 s in an
 * application SA_RESTART handler when the cancel comes, so the kernel
 * restarts its read afterwards; the read must still end promptly after the
 * handler returns (portable: the resend timer; PC window: the deferral).
 * The canceller itself must not wait for the target.
 */
static _Atomic int slow_handler_running;
static void slow_restart_handler(int sig) {
    (void)sig;
    atomic_store(&slow_handler_running, 1);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - start.tv_sec) * 1000000000L +
                 (now.tv_nsec - start.tv_nsec) < 1200000000L);
    atomic_store(&slow_handler_running, 0);
}

static void request_outlasts_long_handler(int mode) {
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = slow_restart_handler;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR2, &sa, &old);
    int p[2];
    CHECK(pipe(p) == 0);
    char buf[4];
    struct io_args a = {p[0], buf, sizeof buf};
    struct blocked_call c;
    iio_set_entry_mode(mode);
    start_call(&c, do_read, &a);
    sleep_us(20000);
    pthread_kill(c.thread, SIGUSR2);
    double asked = now_s();
    while (!atomic_load(&slow_handler_running) && now_s() - asked < 2.0)
        sched_yield();
    CHECK(atomic_load(&slow_handler_running)); /* TSan defers handlers */
    double sent = now_s();
    CHECK_EQ(iio_cancel(c.handle), 1);
    CHECK(now_s() - sent < 0.1); /* the canceller does not wait */
    while (atomic_load(&slow_handler_running) && now_s() - sent < 3)
        sleep_us(1000);
    double handler_done = now_s();
    while (!atomic_load(&c.done) && now_s() - handler_done < 2.0)
        sleep_us(1000);
    CHECK(atomic_load(&c.done));
    if (atomic_load(&c.done)) {
        pthread_join(c.thread, NULL);
        CHECK_EQ(c.result, -ECANCELED);
        CHECK(c.returned_at - handler_done < 0.5);
    } else {
        CHECK_EQ(write(p[1], "x", 1), 1); /* let the thread go */
        pthread_join(c.thread, NULL);
    }
    TICK();
    sigaction(SIGUSR2, &old, NULL);
    iio_set_entry_mode(IIO_ENTRY_PC_WINDOW);
    close(p[0]);
    close(p[1]);
}

static void test_request_outlasts_long_handler_portable(void) {
    request_outlasts_long_handler(IIO_ENTRY_PORTABLE);
}

static void test_request_outlasts_long_handler_pc_window(void) {
    if (!iio_pc_window_available())
        return;
    request_outlasts_long_handler(IIO_ENTRY_PC_WINDOW);
}

/*
 * The kernel refuses our signal (RLIMIT_SIGPENDING exhausted): the cancel
 * says so (-EAGAIN) instead of claiming success, the request stays
 * recorded, and a later cancel, once the limit allows, delivers it.
 */
static int eagain_scenario(int mode) {
    if (iio_set_entry_mode(mode) != 0)
        return 0; /* not available: nothing to check */
    int p[2];
    if (pipe(p) != 0)
        return 30;
    char buf[4];
    struct io_args a = {p[0], buf, sizeof buf};
    struct blocked_call c;
    start_call(&c, do_read, &a);
    sleep_us(20000);
    struct rlimit lim, zero;
    getrlimit(RLIMIT_SIGPENDING, &lim);
    zero = lim;
    zero.rlim_cur = 0;
    if (setrlimit(RLIMIT_SIGPENDING, &zero) != 0)
        return 31;
    int r = iio_cancel(c.handle);
    setrlimit(RLIMIT_SIGPENDING, &lim);
    if (r != -EAGAIN)
        return 32;
    sleep_us(50000);
    if (atomic_load(&c.done))
        return 33; /* nothing was delivered, so nothing can have ended it */
    if (iio_cancel(c.handle) != 1)
        return 34;
    for (int i = 0; i < 200 && !atomic_load(&c.done); i++)
        sleep_us(10000);
    if (!atomic_load(&c.done))
        return 35;
    pthread_join(c.thread, NULL);
    return c.result == -ECANCELED ? 0 : 36;
}

static void test_cancel_reports_refused_signal(void) {
    CHECK_EQ(run_self("--eagain-pc-window"), 0);
    CHECK_EQ(run_self("--eagain-portable"), 0);
}

/*
 * _Fork() runs no fork handlers: the child's pid must still be right when
 * it cancels a thread of its own (the library reads it per send).
 */
static void test_cancel_in_child_of_raw_fork(void) {
    pid_t child = _Fork();
    if (child == 0)
        child_cancels_its_own_thread();
    expect_child_passes(child);
}

/* ---- waitid ------------------------------------------------------------- */

static long do_waitid(void *p) {
    pid_t *pid = p;
    siginfo_t info;
    return iio_waitid(P_PID, (id_t)*pid, &info, WEXITED);
}

/* A wait for a child that does not end is cancelled; the child is then
 * stopped and reaped with its status. */
static void test_waitid_cancelled_then_reaps(void) {
    pid_t pid;
    char *argv[] = {"sleep", "30", NULL};
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
    CHECK_EQ(posix_spawnp(&pid, "sleep", NULL, &attributes, argv, NULL), 0);
    posix_spawnattr_destroy(&attributes);
    struct blocked_call c;
    start_call(&c, do_waitid, &pid);
    double took = cancel_and_join(&c);
    CHECK(took >= 0 && took < 2.0);
    CHECK_EQ(c.result, -ECANCELED);
    kill(pid, SIGKILL);
    siginfo_t info;
    memset(&info, 0, sizeof info);
    CHECK_EQ(iio_waitid(P_PID, (id_t)pid, &info, WEXITED), 0);
    CHECK_EQ(info.si_code, CLD_KILLED);
    CHECK_EQ(info.si_status, SIGKILL);
    CHECK_EQ(iio_waitid(P_PID, (id_t)pid, &info, WEXITED), -ECHILD);
}

/* ---- iio_fd_t: Go's net.Conn contract ------------------------------------ */

struct fd_caller {
    iio_fd_t *fd;
    int kind; /* 0 read, 1 write, 2 accept, 3 recv */
    pthread_t thread;
    _Atomic int started;
    _Atomic int done;
    long result;
    double returned_at;
};

static void *fd_caller_main(void *p) {
    struct fd_caller *c = p;
    char buf[1024];
    memset(buf, 'w', sizeof buf);
    iio_thread_t me;
    iio_self(&me);
    atomic_store(&c->started, 1);
    switch (c->kind) {
    case 0: c->result = iio_fd_read(c->fd, buf, 1); break;
    case 1: c->result = iio_fd_write(c->fd, buf, sizeof buf); break;
    case 2: c->result = iio_fd_accept4(c->fd, NULL, NULL, SOCK_CLOEXEC); break;
    default: c->result = iio_fd_recv(c->fd, buf, 1, 0); break;
    }
    c->returned_at = now_s();
    atomic_store(&c->done, 1);
    return NULL;
}

static void fd_callers_start(struct fd_caller *c, int n, iio_fd_t *fd,
                             int kind) {
    for (int i = 0; i < n; i++) {
        memset(&c[i], 0, sizeof c[i]);
        c[i].fd = fd;
        c[i].kind = kind;
        pthread_create(&c[i].thread, NULL, fd_caller_main, &c[i]);
    }
    for (int i = 0; i < n; i++)
        while (!atomic_load(&c[i].started))
            sched_yield();
    sleep_us(30000); /* let them block in the kernel */
}

/* Waits up to `limit` seconds from `since` for all n; true if all
 * returned in time (those that did not are left detached: the test fails). */
static bool fd_callers_join(struct fd_caller *c, int n, double since,
                            double limit) {
    bool all = true;
    for (int i = 0; i < n; i++) {
        while (!atomic_load(&c[i].done) && now_s() - since < limit)
            sleep_us(1000);
        if (atomic_load(&c[i].done)) {
            pthread_join(c[i].thread, NULL);
        } else {
            pthread_detach(c[i].thread);
            all = false;
        }
    }
    TICK();
    return all;
}

/* Fills the socket's send buffer so the next send blocks. */
static void fill_send_buffer(int fd) {
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    char fill[1024];
    memset(fill, 'x', sizeof fill);
    while (send(fd, fill, sizeof fill, 0) > 0) {
    }
    fcntl(fd, F_SETFL, 0);
}

static iio_fd_t *wrapped_listener(struct sockaddr_in *addr) {
    iio_fd_t *fd = NULL;
    CHECK_EQ(iio_fd_wrap(listening_socket(8, addr), &fd), 0);
    return fd;
}

static void test_fd_bad_input(void) {
    iio_fd_t *fd = NULL;
    CHECK_EQ(iio_fd_wrap(-1, &fd), -EBADF);
    CHECK(fd == NULL);
    int p[2];
    CHECK(pipe(p) == 0);
    close(p[1]);
    CHECK_EQ(iio_fd_wrap(p[1], &fd), -EBADF); /* a closed number */
    CHECK_EQ(iio_fd_wrap(p[0], NULL), -EINVAL);
    CHECK_EQ(iio_fd_wrap(p[0], &fd), 0);
    CHECK_EQ(iio_fd_number(fd), p[0]);
    CHECK_EQ(iio_fd_set_deadline(fd, 0, IIO_NEVER), -EINVAL);
    CHECK_EQ(iio_fd_set_deadline(fd, 4, IIO_NEVER), -EINVAL);
    CHECK(iio_fd_deadline(fd, IIO_FD_READ) == IIO_NEVER);
    CHECK(iio_fd_deadline(fd, IIO_FD_BOTH) == IIO_NEVER); /* not one side */
    iio_fd_call_t call;
    CHECK_EQ(iio_fd_begin(fd, 0, &call), -EINVAL);
    /* A caller's 0 is "passed", never "closed". */
    CHECK_EQ(iio_fd_set_deadline(fd, IIO_FD_READ, 0), 0);
    CHECK(iio_fd_deadline(fd, IIO_FD_READ) == 1);
    char b;
    CHECK_EQ(iio_fd_read(fd, &b, 1), -ETIMEDOUT); /* EOF waits, not passed */
    CHECK_EQ(iio_fd_set_deadline(fd, IIO_FD_READ, IIO_NEVER), 0);
    CHECK_EQ(iio_fd_read(fd, &b, 1), 0); /* EOF: the descriptor works */
    CHECK_EQ(iio_fd_closed(fd), 0);
    CHECK_EQ(iio_fd_close(fd), 0);
    CHECK_EQ(iio_fd_closed(fd), 1);
    CHECK_EQ(iio_fd_close(fd), -EBADF);
    CHECK_EQ(iio_fd_number(fd), -EBADF);
    CHECK_EQ(iio_fd_set_deadline(fd, IIO_FD_BOTH, IIO_NEVER), -EBADF);
    CHECK_EQ(iio_fd_shutdown(fd, SHUT_RDWR), -EBADF);
    /* The number is closed; a pipe that reuses it keeps its byte. */
    errno = 0;
    CHECK(fcntl(p[0], F_GETFD) == -1 && errno == EBADF);
    int q[2];
    CHECK(pipe(q) == 0);
    CHECK(write(q[1], "K", 1) == 1);
    CHECK_EQ(iio_fd_read(fd, &b, 1), -EBADF);
    CHECK_EQ(iio_fd_write(fd, "x", 1), -EBADF);
    CHECK_EQ(iio_fd_begin(fd, IIO_FD_READ, &call), -EBADF);
    CHECK(read(q[0], &b, 1) == 1 && b == 'K');
    iio_fd_free(fd);
    iio_fd_free(NULL);
    CHECK_EQ(iio_fd_close(NULL), -EINVAL);
    close(q[0]);
    close(q[1]);
}

/* 4 acceptors on one listener; a passed deadline returns every one. */
static void test_fd_past_deadline_returns_every_acceptor(void) {
    struct sockaddr_in addr;
    iio_fd_t *fd = wrapped_listener(&addr);
    struct fd_caller c[4];
    fd_callers_start(c, 4, fd, 2);
    double sent = now_s();
    CHECK_EQ(iio_fd_set_deadline(fd, IIO_FD_BOTH, iio_now_ns()), 0);
    CHECK(fd_callers_join(c, 4, sent, 2.0));
    for (int i = 0; i < 4; i++)
        CHECK_EQ(c[i].result, -ETIMEDOUT);
    /* A later call fails at once; cleared, the listener accepts. */
    CHECK_EQ(iio_fd_accept4(fd, NULL, NULL, 0), -ETIMEDOUT);
    CHECK_EQ(iio_fd_set_deadline(fd, IIO_FD_BOTH, IIO_NEVER), 0);
    int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(connect(client, (struct sockaddr *)&addr, sizeof addr) == 0);
    int conn = iio_fd_accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    CHECK(conn >= 0);
    close(conn);
    close(client);
    CHECK_EQ(iio_fd_close(fd), 0);
    iio_fd_free(fd);
}

/* 3 readers on a pipe, then 3 on a socketpair; a read deadline reaches all
 * of them and not the write side. */
static void test_fd_past_deadline_returns_every_reader(void) {
    for (int round = 0; round < 2; round++) {
        int p[2];
        if (round == 0)
            CHECK(pipe(p) == 0);
        else
            CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, p) == 0);
        iio_fd_t *fd;
        CHECK_EQ(iio_fd_wrap(p[0], &fd), 0);
        struct fd_caller c[3];
        fd_callers_start(c, 3, fd, round == 0 ? 0 : 3);
        /* The write side's deadline does not touch readers. */
        CHECK_EQ(iio_fd_set_deadline(fd, IIO_FD_WRITE, iio_now_ns()), 0);
        sleep_us(20000);
        for (int i = 0; i < 3; i++)
            CHECK_EQ(atomic_load(&c[i].done), 0);
        double sent = now_s();
        CHECK_EQ(iio_fd_set_deadline(fd, IIO_FD_READ, 1), 0);
        CHECK(fd_callers_join(c, 3, sent, 2.0));
        for (int i = 0; i < 3; i++)
            CHECK_EQ(c[i].result, -ETIMEDOUT);
        /* Nothing was lost: cleared, the byte written is read. */
        CHECK_EQ(iio_fd_set_deadline(fd, IIO_FD_READ, IIO_NEVER), 0);
        CHECK(write(p[1], "A", 1) == 1);
        char b = 0;
        CHECK_EQ(iio_fd_read(fd, &b, 1), 1);
        CHECK_EQ(b, 'A');
        iio_fd_free(fd);
        close(p[1]);
    }
}

/* Moving a deadline later (here from a passed one's neighbourhood to the
 * far future) lets every reader go on; each then gets its byte. */
static void test_fd_later_deadline_lets_every_reader_go_on(void) {
    int p[2];
    CHECK(pipe(p) == 0);
    iio_fd_t *fd;
    CHECK_EQ(iio_fd_wrap(p[0], &fd), 0);
    struct fd_caller c[3];
    fd_callers_start(c, 3, fd, 0);
    /* Earlier than IIO_NEVER, so every reader re-checks, and goes on. In a
     * C-only process no driver runs: the setter says so (1). */
    uint64_t later = iio_now_ns() + 60ull * 1000000000u;
    int r = iio_fd_set_deadline(fd, IIO_FD_READ, later);
    CHECK(r == 0 || r == 1);
    sleep_us(30000);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(atomic_load(&c[i].done), 0);
    CHECK(write(p[1], "abc", 3) == 3);
    double sent = now_s();
    CHECK(fd_callers_join(c, 3, sent, 2.0));
    for (int i = 0; i < 3; i++)
        CHECK_EQ(c[i].result, 1);
    iio_fd_free(fd);
    close(p[1]);
}

/* Close while 3 readers and 1 writer are blocked on one socket. */
static void test_fd_close_returns_every_caller(void) {
    int s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    fill_send_buffer(s[0]);
    iio_fd_t *fd;
    CHECK_EQ(iio_fd_wrap(s[0], &fd), 0);
    struct fd_caller c[4];
    fd_callers_start(c, 3, fd, 3);
    fd_callers_start(&c[3], 1, fd, 1);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(atomic_load(&c[i].done), 0);
    double sent = now_s();
    CHECK_EQ(iio_fd_close(fd), 0);
    /* close returned: every caller has left the descriptor (each may not
     * have reached its next line yet) and the number is closed. */
    errno = 0;
    CHECK(fcntl(s[0], F_GETFD) == -1 && errno == EBADF);
    CHECK(fd_callers_join(c, 4, sent, 2.0));
    for (int i = 0; i < 3; i++)
        CHECK_EQ(c[i].result, -EBADF);
    /* The writer: closed, or the count it had moved. */
    CHECK(c[3].result == -EBADF || (c[3].result > 0 && c[3].result < 1024));
    iio_fd_free(fd);
    close(s[1]);
}

/*
 * Close racing with calls: readers and a writer loop on a wrapped pipe
 * until they see -EBADF; the main thread closes both ends and at once opens
 * a file with known contents twice, which takes the freed numbers. No old
 * caller may ever read from or write to the file: its bytes and offset stay
 * as they were.
 */
struct reuse_loop {
    iio_fd_t *fd;
    int write;
    pthread_t thread;
    _Atomic int started;
    long foreign; /* bytes read that were not the pipe's */
    long last;
};

static void *reuse_loop_main(void *p) {
    struct reuse_loop *l = p;
    char buf[256];
    memset(buf, 'p', sizeof buf);
    atomic_store(&l->started, 1);
    for (;;) {
        long r = l->write ? iio_fd_write(l->fd, buf, sizeof buf)
                          : iio_fd_read(l->fd, buf, sizeof buf);
        if (r == -EBADF || r == 0) {
            l->last = r;
            break;
        }
        if (!l->write)
            for (long i = 0; i < r; i++)
                if (buf[i] != 'p')
                    l->foreign++;
        if (r < 0 && r != -EPIPE) {
            l->last = r;
            break;
        }
        if (l->write && r == -EPIPE)
            sched_yield();
    }
    return NULL;
}

static void test_fd_close_never_touches_a_reused_number(void) {
    char path[] = "/tmp/interruptio-reuse-XXXXXX";
    int keep = mkstemp(path);
    CHECK(keep >= 0);
    static const char content[] = "FILE-CONTENTS-THAT-MUST-NOT-CHANGE";
    CHECK(write(keep, content, sizeof content) == (ssize_t)sizeof content);
    signal(SIGPIPE, SIG_IGN);
    unsigned seed = 1;
    int n = rounds(200);
    if (n < 20)
        n = 20;
    long foreign = 0, reused = 0, bad_end = 0, moved = 0, closed_twice = 0;
    for (int round = 0; round < n; round++) {
        int p[2];
        CHECK(pipe(p) == 0);
        iio_fd_t *rd, *wr;
        CHECK_EQ(iio_fd_wrap(p[0], &rd), 0);
        CHECK_EQ(iio_fd_wrap(p[1], &wr), 0);
        struct reuse_loop loops[3] = {
            {.fd = rd}, {.fd = rd}, {.fd = wr, .write = 1}};
        for (int i = 0; i < 3; i++)
            pthread_create(&loops[i].thread, NULL, reuse_loop_main, &loops[i]);
        for (int i = 0; i < 3; i++)
            while (!atomic_load(&loops[i].started))
                sched_yield();
        sleep_us(rand_r(&seed) % 2000);
        bool reader_first = rand_r(&seed) & 1;
        CHECK_EQ(iio_fd_close(reader_first ? rd : wr), 0);
        int f1 = open(path, O_RDWR | O_CLOEXEC);
        CHECK_EQ(iio_fd_close(reader_first ? wr : rd), 0);
        int f2 = open(path, O_RDWR | O_CLOEXEC);
        reused += (f1 == p[0] || f1 == p[1]) + (f2 == p[0] || f2 == p[1]);
        for (int i = 0; i < 3; i++) {
            pthread_join(loops[i].thread, NULL);
            foreign += loops[i].foreign;
            if (loops[i].last != -EBADF && loops[i].last != 0)
                bad_end++;
        }
        iio_fd_free(rd); /* already closed: must not close again */
        iio_fd_free(wr);
        moved += lseek(f1, 0, SEEK_CUR) != 0 || lseek(f2, 0, SEEK_CUR) != 0;
        closed_twice += fcntl(f1, F_GETFD) < 0 || fcntl(f2, F_GETFD) < 0;
        close(f1);
        close(f2);
        TICK();
    }
    char back[sizeof content + 8];
    CHECK_EQ(pread(keep, back, sizeof back, 0), (long)sizeof content);
    CHECK(memcmp(back, content, sizeof content) == 0);
    CHECK_EQ(foreign, 0);
    CHECK_EQ(moved, 0);
    CHECK_EQ(closed_twice, 0);
    CHECK_EQ(bad_end, 0);
    CHECK(reused > 0); /* the race was really staged */
    close(keep);
    unlink(path);
    signal(SIGPIPE, SIG_DFL);
}

/* shutdown passes through; the peer sees end of file. */
static void test_fd_shutdown(void) {
    int s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    iio_fd_t *fd;
    CHECK_EQ(iio_fd_wrap(s[0], &fd), 0);
    CHECK_EQ(iio_fd_write(fd, "hi", 2), 2);
    CHECK_EQ(iio_fd_shutdown(fd, SHUT_WR), 0);
    char b[4];
    CHECK_EQ(read(s[1], b, sizeof b), 2);
    CHECK_EQ(read(s[1], b, sizeof b), 0);
    CHECK_EQ(iio_fd_send(fd, "x", 1, MSG_NOSIGNAL), -EPIPE);
    CHECK_EQ(iio_fd_shutdown(fd, 99), -EINVAL);
    iio_fd_free(fd);
    close(s[1]);
}

/* A signal handler inside a call on fd that closes fd gets -EDEADLK and
 * changes nothing; the call goes on. */
static iio_fd_t *_Atomic handler_fd;
static _Atomic long handler_close_result = 1;
static void closing_handler(int sig) {
    (void)sig;
    atomic_store(&handler_close_result,
                 (long)iio_fd_close(atomic_load(&handler_fd)));
}

static void test_fd_close_from_own_handler_refused(void) {
    int p[2];
    CHECK(pipe(p) == 0);
    iio_fd_t *fd;
    CHECK_EQ(iio_fd_wrap(p[0], &fd), 0);
    atomic_store(&handler_fd, fd);
    struct sigaction sa = {0}, old;
    sa.sa_handler = closing_handler;
    sigaction(SIGUSR2, &sa, &old);
    struct fd_caller c;
    fd_callers_start(&c, 1, fd, 0);
    pthread_kill(c.thread, SIGUSR2);
    sleep_us(30000);
    CHECK_EQ(atomic_load(&handler_close_result), -EDEADLK);
    CHECK_EQ(atomic_load(&c.done), 0); /* the foreign EINTR was retried */
    CHECK_EQ(iio_fd_closed(fd), 0);
    CHECK(write(p[1], "z", 1) == 1);
    CHECK(fd_callers_join(&c, 1, now_s(), 2.0));
    CHECK_EQ(c.result, 1);
    sigaction(SIGUSR2, &old, NULL);
    iio_fd_free(fd);
    close(p[1]);
}

/* A signal handler (SA_RESTART) inside a read on A blocks in a call on B;
 * a deadline set on A meanwhile must still reach the read on A, which the
 * kernel would otherwise restart under the passed deadline (the handler's
 * call must not hide the outer call from the setter: found by the model,
 * Tests/Model/fd, finding_nested). */
static iio_fd_t *_Atomic nested_other;
static _Atomic int nested_state; /* 1: in the nested call, 2: back */
static void nested_call_handler(int sig) {
    (void)sig;
    char b;
    atomic_store(&nested_state, 1);
    iio_fd_read(atomic_load(&nested_other), &b, 1);
    atomic_store(&nested_state, 2);
}

static void test_fd_deadline_reaches_a_call_whose_handler_used_another(void) {
    int a[2], b[2];
    CHECK(pipe(a) == 0);
    CHECK(pipe(b) == 0);
    iio_fd_t *fa, *fb;
    CHECK_EQ(iio_fd_wrap(a[0], &fa), 0);
    CHECK_EQ(iio_fd_wrap(b[0], &fb), 0);
    atomic_store(&nested_other, fb);
    atomic_store(&nested_state, 0);
    struct sigaction sa = {0}, old;
    sa.sa_handler = nested_call_handler;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR2, &sa, &old);
    struct fd_caller c;
    fd_callers_start(&c, 1, fa, 0);
    pthread_kill(c.thread, SIGUSR2);
    for (int i = 0; i < 2000 && atomic_load(&nested_state) == 0; i++)
        sleep_us(1000);
    sleep_us(20000); /* the handler's read on B is blocked */
    CHECK_EQ(atomic_load(&nested_state), 1);
    double sent = now_s();
    CHECK_EQ(iio_fd_set_deadline(fa, IIO_FD_READ, 1), 0);
    sleep_us(20000);
    CHECK(write(b[1], "n", 1) == 1); /* the handler returns */
    CHECK(fd_callers_join(&c, 1, sent, 2.0));
    CHECK_EQ(atomic_load(&nested_state), 2);
    CHECK_EQ(c.result, -ETIMEDOUT);
    sigaction(SIGUSR2, &old, NULL);
    iio_fd_free(fa);
    iio_fd_free(fb);
    close(a[1]);
    close(b[1]);
}

/* A prefork server's child closes the listener its parent's acceptor is
 * blocked on: the child's close does not wait for the parent's thread. */
static void test_fd_close_in_fork_child(void) {
    struct sockaddr_in addr;
    iio_fd_t *fd = wrapped_listener(&addr);
    struct fd_caller c;
    fd_callers_start(&c, 1, fd, 2);
    pid_t child = fork();
    if (child == 0) {
        alarm(5);
        double t0 = now_s();
        int r = iio_fd_close(fd);
        _exit(r == 0 && now_s() - t0 < 2.0 ? 0 : 1);
    }
    int status = -1;
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ(atomic_load(&c.done), 0); /* the parent's acceptor waits on */
    double sent = now_s();
    CHECK_EQ(iio_fd_close(fd), 0);
    CHECK(fd_callers_join(&c, 1, sent, 2.0));
    CHECK_EQ(c.result, -EBADF);
    iio_fd_free(fd);
}

/* ---- Deadlines fired by the C driver (no Swift in this process) -------- */

/* Bounds on lateness: generous under valgrind and qemu (INTERRUPTIO_QUICK). */
static double late_limit(void) { return getenv("INTERRUPTIO_QUICK") ? 2.0 : 0.5; }

struct deadline_call {
    int kind; /* 0 read, 1 write, 2 accept, 3 poll */
    int fd;
    uint64_t deadline_ns;
};
static long do_deadline_call(void *p) {
    struct deadline_call *d = p;
    char buf[512];
    memset(buf, 'd', sizeof buf);
    iio_deadline_set(d->deadline_ns);
    long r;
    switch (d->kind) {
    case 0: r = iio_read(d->fd, buf, 1); break;
    case 1: r = iio_write(d->fd, buf, sizeof buf); break;
    case 2: r = iio_accept4(d->fd, NULL, NULL, SOCK_CLOEXEC); break;
    default: {
        struct pollfd pfd = {.fd = d->fd, .events = POLLIN};
        r = iio_poll(&pfd, 1, -1);
    }
    }
    iio_deadline_set(IIO_NEVER);
    return r;
}

/* Whether a thread of this process is named `name` (/proc/self/task). */
static bool thread_named(const char *name) {
    DIR *dir = opendir("/proc/self/task");
    if (dir == NULL)
        return false;
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(dir)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], comm[32] = {0};
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        if (fgets(comm, sizeof comm, f) != NULL) {
            comm[strcspn(comm, "\n")] = 0;
            found = strcmp(comm, name) == 0;
        }
        fclose(f);
    }
    closedir(dir);
    return found;
}

/* A read, a write, an accept and a poll, each blocked with a deadline 50 ms
 * ahead, return -ETIMEDOUT at it (never before), and the descriptor works. */
static void test_deadline_fires_for_read_write_accept_poll(void) {
    int p[2], full[2];
    CHECK(pipe(p) == 0);
    CHECK(pipe(full) == 0);
    fcntl(full[1], F_SETFL, O_NONBLOCK);
    char fill[4096];
    memset(fill, 'f', sizeof fill);
    long filled = 0;
    for (ssize_t n; (n = write(full[1], fill, sizeof fill)) > 0;)
        filled += n;
    fcntl(full[1], F_SETFL, 0);
    struct sockaddr_in addr;
    int lfd = listening_socket(4, &addr);
    int fds[4] = {p[0], full[1], lfd, p[0]};
    const char *names[4] = {"read", "write", "accept", "poll"};
    for (int kind = 0; kind < 4; kind++) {
        uint64_t deadline = iio_now_ns() + 50000000;
        struct deadline_call d = {kind, fds[kind], deadline};
        struct blocked_call c;
        start_call(&c, do_deadline_call, &d);
        while (!atomic_load(&c.done) && now_s() < deadline / 1e9 + 2 * late_limit())
            sleep_us(1000);
        uint64_t returned = iio_now_ns();
        if (!atomic_load(&c.done)) {
            fprintf(stderr, "  %s never returned\n", names[kind]);
            test_ok = false;
            pthread_detach(c.thread);
            continue;
        }
        pthread_join(c.thread, NULL);
        TICK();
        if (c.result != -ETIMEDOUT)
            fprintf(stderr, "  %s: %ld\n", names[kind], c.result);
        CHECK_EQ(c.result, -ETIMEDOUT);
        CHECK(returned >= deadline);
        CHECK((returned - deadline) / 1e9 < late_limit());
    }
    /* Fired by the C core's own timer thread: nothing here started it. */
    CHECK(thread_named("iio-timer-c"));
    /* Each descriptor still works: nothing was lost from the full pipe. */
    char sink[4096];
    long drained = 0;
    while (drained < filled) {
        ssize_t n = read(full[0], sink, sizeof sink);
        if (n <= 0)
            break;
        drained += n;
    }
    CHECK_EQ(drained, filled);
    CHECK_EQ(iio_write(p[1], "z", 1), 1);
    char b = 0;
    CHECK_EQ(iio_read(p[0], &b, 1), 1);
    CHECK_EQ(b, 'z');
    close(p[0]); close(p[1]); close(full[0]); close(full[1]); close(lfd);
}

/* iio_deadline_set_for from another thread bounds a read already blocked. */
static void test_deadline_set_for_from_another_thread(void) {
    int p[2];
    CHECK(pipe(p) == 0);
    char b;
    struct io_args a = {p[0], &b, 1};
    struct blocked_call c;
    start_call(&c, do_read, &a);
    sleep_us(20000);
    uint64_t deadline = iio_now_ns() + 50000000;
    CHECK_EQ(iio_deadline_set_for(c.handle, deadline), 0);
    while (!atomic_load(&c.done) && now_s() < deadline / 1e9 + 2 * late_limit())
        sleep_us(1000);
    uint64_t returned = iio_now_ns();
    CHECK(atomic_load(&c.done));
    if (atomic_load(&c.done)) {
        pthread_join(c.thread, NULL);
        CHECK_EQ(c.result, -ETIMEDOUT);
        CHECK(returned >= deadline);
    } else {
        pthread_detach(c.thread);
    }
    TICK();
    close(p[0]);
    close(p[1]);
}

/*
 * Deadlines landing around call entry: a writer sends numbered bytes with
 * pauses; the reader reads one at a time, each call under a deadline 0-200
 * us ahead (so many pass at entry, in the kernel, or just as data comes).
 * Every byte arrives once, in order; no call hangs (the watchdog).
 */
struct numbered_writer {
    int fd;
    int count;
};
static void *numbered_writer_main(void *p) {
    struct numbered_writer *w = p;
    unsigned seed = 3;
    for (int i = 0; i < w->count; i++) {
        unsigned char b = (unsigned char)i;
        while (write(w->fd, &b, 1) != 1) {
        }
        if (rand_r(&seed) % 4 == 0)
            sleep_us(rand_r(&seed) % 300);
    }
    return NULL;
}

static void test_deadline_stream_with_deadlines_at_entry(void) {
    int p[2];
    CHECK(pipe(p) == 0);
    struct numbered_writer w = {p[1], rounds(20000)};
    if (w.count < 500)
        w.count = 500;
    pthread_t writer;
    pthread_create(&writer, NULL, numbered_writer_main, &w);
    unsigned seed = 11;
    int next = 0;
    long timeouts = 0, wrong = 0;
    while (next < w.count) {
        iio_deadline_set(iio_now_ns() + rand_r(&seed) % 200000);
        unsigned char b;
        long r = iio_read(p[0], &b, 1);
        if (r == 1) {
            if (b != (unsigned char)next)
                wrong++;
            next++;
            if (next % 256 == 0)
                TICK();
        } else if (r == -ETIMEDOUT) {
            timeouts++;
        } else {
            wrong++;
            break;
        }
    }
    iio_deadline_set(IIO_NEVER);
    pthread_join(writer, NULL);
    CHECK_EQ(wrong, 0);
    CHECK_EQ(next, w.count);
    CHECK(timeouts > 0); /* the deadlines really landed */
    close(p[0]);
    close(p[1]);
}

/* A thread that exits with a deadline pending (set, and a call that timed
 * out under it scheduled in the driver) leaves nothing to the next thread
 * that gets its record: that thread's read waits on. */
static long exit_with_deadline(void *p) {
    int *fd = p;
    iio_deadline_set(iio_now_ns() + 20000000);
    char b;
    long r = iio_read(*fd, &b, 1); /* times out at 20 ms */
    iio_deadline_set(iio_now_ns() + 30000000); /* still pending at exit */
    return r;
}
static void test_deadline_thread_exits_with_deadline_pending(void) {
    int p[2];
    CHECK(pipe(p) == 0);
    for (int i = 0; i < 20; i++) {
        struct blocked_call c;
        start_call(&c, exit_with_deadline, &p[0]);
        pthread_join(c.thread, NULL);
        CHECK_EQ(c.result, -ETIMEDOUT);
    }
    sleep_us(50000); /* the pending deadlines come due */
    char b;
    struct io_args a = {p[0], &b, 1};
    struct blocked_call c;
    start_call(&c, do_read, &a);
    sleep_us(100000);
    CHECK_EQ(atomic_load(&c.done), 0); /* no deadline inherited */
    CHECK(write(p[1], "k", 1) == 1);
    while (!atomic_load(&c.done))
        sleep_us(1000);
    pthread_join(c.thread, NULL);
    CHECK_EQ(c.result, 1);
    TICK();
    close(p[0]);
    close(p[1]);
}

/* Fork with a deadline pending in the parent: the child's driver is started
 * afresh and fires the child's own deadline; the parent's still fires. */
static void test_deadline_fork_with_deadlines_pending(void) {
    int p[2];
    CHECK(pipe(p) == 0);
    uint64_t parent_deadline = iio_now_ns() + 300000000;
    struct deadline_call d = {0, p[0], parent_deadline};
    struct blocked_call c;
    start_call(&c, do_deadline_call, &d);
    sleep_us(20000);
    pid_t child = fork();
    if (child == 0) {
        alarm(10);
        int q[2];
        if (pipe(q) != 0)
            _exit(2);
        uint64_t deadline = iio_now_ns() + 50000000;
        iio_deadline_set(deadline);
        char b;
        long r = iio_read(q[0], &b, 1);
        uint64_t late = iio_now_ns() - deadline;
        _exit(r == -ETIMEDOUT && late / 1e9 < late_limit() ? 0 : 1);
    }
    int status = -1;
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    while (!atomic_load(&c.done) && now_s() < parent_deadline / 1e9 + 2 * late_limit())
        sleep_us(1000);
    CHECK(atomic_load(&c.done));
    if (atomic_load(&c.done)) {
        pthread_join(c.thread, NULL);
        CHECK_EQ(c.result, -ETIMEDOUT);
    } else {
        pthread_detach(c.thread);
    }
    TICK();
    close(p[0]);
    close(p[1]);
}

/* A descriptor's deadline still ahead, moved earlier while three readers
 * wait, fires for all three at its instant (the C driver). */
static void test_fd_future_deadline_fires_for_every_reader(void) {
    int p[2];
    CHECK(pipe(p) == 0);
    iio_fd_t *fd;
    CHECK_EQ(iio_fd_wrap(p[0], &fd), 0);
    CHECK_EQ(iio_fd_set_deadline(fd, IIO_FD_READ, iio_now_ns() + 60000000000ull), 0);
    struct fd_caller c[3];
    fd_callers_start(c, 3, fd, 0);
    uint64_t deadline = iio_now_ns() + 100000000;
    CHECK_EQ(iio_fd_set_deadline(fd, IIO_FD_READ, deadline), 0);
    CHECK(fd_callers_join(c, 3, now_s(), 2.0));
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(c[i].result, -ETIMEDOUT);
        CHECK(c[i].returned_at >= deadline / 1e9 - 1e-6);
    }
    iio_fd_free(fd);
    close(p[1]);
}

static int faults_env_scenario(bool expect_on);
static int scenario(const char *name) {
    if (strcmp(name, "--chain") == 0)
        return chain_scenario(0);
    if (strcmp(name, "--chain-nodefer") == 0)
        return chain_scenario(SA_NODEFER);
    if (strcmp(name, "--chain-resethand") == 0)
        return chain_scenario(SA_RESETHAND);
    if (strcmp(name, "--eagain-pc-window") == 0)
        return eagain_scenario(IIO_ENTRY_PC_WINDOW);
    if (strcmp(name, "--eagain-portable") == 0)
        return eagain_scenario(IIO_ENTRY_PORTABLE);
    if (strcmp(name, "--faults-env-on") == 0)
        return faults_env_scenario(true);
    if (strcmp(name, "--faults-env-off") == 0)
        return faults_env_scenario(false);
    return 100;
}

/* ---- Shield ------------------------------------------------------------- */

struct shielded_reader {
    int fd;
    char buf[16];
    long in_scope;       /* the read inside the scope */
    int scope_end;       /* iio_shield_end's answer */
    long after;          /* the first read after the scope */
    long deadline_read;  /* with a deadline inside the scope */
};

static long shielded_read(void *p) {
    struct shielded_reader *r = p;
    iio_shield_begin();
    r->in_scope = iio_read(r->fd, r->buf, sizeof r->buf);
    r->scope_end = iio_shield_end();
    r->after = iio_read(r->fd, r->buf, sizeof r->buf);
    return 0;
}

/* Cancels that reach a shielded read do not end it; it returns the bytes
 * written after them, and the first call after the scope fails. */
static void shield_keeps_cancels(int mode) {
    CHECK_EQ(iio_set_entry_mode(mode), 0);
    int p[2];
    CHECK(pipe(p) == 0);
    struct shielded_reader r = {.fd = p[0]};
    struct blocked_call c;
    start_call(&c, shielded_read, &r);
    sleep_us(20000);
    int reached = 0;
    for (int i = 0; i < 20; i++) {
        reached += iio_cancel(c.handle) == 1;
        sleep_us(5000);
    }
    CHECK(reached > 0);
    CHECK(!atomic_load(&c.done)); /* the shielded read goes on */
    CHECK_EQ(write(p[1], "abc", 3), 3);
    while (!atomic_load(&c.done))
        sleep_us(1000);
    pthread_join(c.thread, NULL);
    CHECK_EQ(r.in_scope, 3);
    CHECK(memcmp(r.buf, "abc", 3) == 0);
    CHECK_EQ(r.scope_end, 1);        /* says the next call will fail */
    CHECK_EQ(r.after, -ECANCELED);   /* without waiting: the pipe is empty */
    /* The kept cancel is spent: the thread's calls work again. */
    CHECK_EQ(iio_self_cancelled(), 0);
    CHECK_EQ(write(p[1], "d", 1), 1);
    CHECK_EQ(iio_read(p[0], r.buf, sizeof r.buf), 1);
    close(p[0]);
    close(p[1]);
    iio_set_entry_mode(IIO_ENTRY_PC_WINDOW);
}

static void test_shield_keeps_cancels_until_scope_ends(void) {
    if (iio_pc_window_available())
        shield_keeps_cancels(IIO_ENTRY_PC_WINDOW);
    shield_keeps_cancels(IIO_ENTRY_PORTABLE);
}

static long shielded_read_with_deadline(void *p) {
    struct shielded_reader *r = p;
    iio_shield_begin();
    iio_deadline_set(iio_now_ns() + 100000000u);
    r->deadline_read = iio_read(r->fd, r->buf, sizeof r->buf);
    iio_deadline_set(IIO_NEVER);
    r->scope_end = iio_shield_end();
    return 0;
}

/* Deadlines are not shielded: a shielded read with a deadline ends at it,
 * even while cancels are being kept. */
/* iio_clear_cancel drops a kept cancel, as the async pool does between
 * calls on one thread: nothing carries over to unrelated work. */
static long shielded_read_then_clear(void *p) {
    struct shielded_reader *r = p;
    iio_shield_begin();
    r->in_scope = iio_read(r->fd, r->buf, sizeof r->buf);
    r->scope_end = iio_shield_end();
    iio_thread_t self;
    iio_self(&self);
    r->deadline_read = iio_clear_cancel(self);
    r->after = iio_write(r->fd + 1, "z", 1); /* the pipe's write end */
    return 0;
}

static void test_shield_kept_cancel_cleared_by_clear_cancel(void) {
    int p[2];
    CHECK(pipe(p) == 0);
    CHECK_EQ(p[1], p[0] + 1);
    struct shielded_reader r = {.fd = p[0]};
    struct blocked_call c;
    start_call(&c, shielded_read_then_clear, &r);
    sleep_us(20000);
    int reached = 0;
    for (int i = 0; i < 10 && !reached; i++) {
        reached = iio_cancel(c.handle) == 1;
        sleep_us(5000);
    }
    CHECK(reached);
    CHECK_EQ(write(p[1], "ab", 2), 2);
    while (!atomic_load(&c.done))
        sleep_us(1000);
    pthread_join(c.thread, NULL);
    CHECK_EQ(r.in_scope, 2);
    CHECK_EQ(r.scope_end, 1);
    CHECK_EQ(r.deadline_read, 0); /* iio_clear_cancel */
    CHECK_EQ(r.after, 1);         /* the kept cancel is gone */
    close(p[0]);
    close(p[1]);
}

static void test_shield_lets_deadlines_fire(void) {
    int p[2];
    CHECK(pipe(p) == 0);
    struct shielded_reader r = {.fd = p[0]};
    struct blocked_call c;
    double start = now_s();
    start_call(&c, shielded_read_with_deadline, &r);
    while (!atomic_load(&c.done) && now_s() - start < 3.0)
        sleep_us(1000);
    CHECK(atomic_load(&c.done));
    pthread_join(c.thread, NULL);
    CHECK_EQ(r.deadline_read, -ETIMEDOUT);
    double took = c.returned_at - start;
    CHECK(took >= 0.09 && took < 2.0);
    CHECK_EQ(r.scope_end, 0);
    close(p[0]);
    close(p[1]);
}

/* A sticky cancel in force does not stop calls inside a shield (nested
 * scopes too) and fails every call after it until cleared. */
static void test_shield_with_sticky_cancel_and_nesting(void) {
    CHECK_EQ(iio_shield_end(), -EINVAL);
    CHECK_EQ(iio_shielded(), 0);
    int p[2];
    CHECK(pipe(p) == 0);
    iio_thread_t self;
    CHECK_EQ(iio_self(&self), 0);
    CHECK_EQ(iio_cancel_sticky(self), 0);
    CHECK_EQ(iio_write(p[1], "xy", 2), -ECANCELED);
    iio_shield_begin();
    iio_shield_begin();
    CHECK_EQ(iio_shielded(), 1);
    CHECK_EQ(iio_write(p[1], "xy", 2), 2);
    CHECK_EQ(iio_shield_end(), 0); /* still inside the outer scope */
    char buf[4];
    CHECK_EQ(iio_read(p[0], buf, sizeof buf), 2);
    CHECK_EQ(iio_shield_end(), 1);
    CHECK_EQ(iio_shielded(), 0);
    CHECK_EQ(iio_write(p[1], "xy", 2), -ECANCELED);
    CHECK_EQ(iio_write(p[1], "xy", 2), -ECANCELED); /* sticky: every call */
    CHECK_EQ(iio_clear_cancel(self), 0);
    CHECK_EQ(iio_write(p[1], "xy", 2), 2);
    close(p[0]);
    close(p[1]);
}

/* A group cancel reaching a shielded poll: the poll goes on and keeps its
 * own end time; after the scope the group's cancel is in force. */
static long shielded_poll(void *p) {
    struct shielded_reader *r = p;
    struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
    iio_group_t *group;
    memcpy(&group, r->buf, sizeof group); /* buf is not aligned for it */
    iio_group_join(group);
    iio_shield_begin();
    r->in_scope = iio_poll(&pfd, 1, 300);
    r->scope_end = iio_shield_end();
    r->after = iio_poll(&pfd, 1, 300);
    iio_group_leave(group);
    return 0;
}

static void test_shield_group_cancel_poll_keeps_end_time(void) {
    int p[2];
    CHECK(pipe(p) == 0);
    iio_group_t *group = iio_group_create();
    CHECK(group != NULL);
    struct shielded_reader r = {.fd = p[0]};
    memcpy(r.buf, &group, sizeof group);
    struct blocked_call c;
    double start = now_s();
    start_call(&c, shielded_poll, &r);
    sleep_us(50000);
    CHECK(iio_group_cancel(group) >= 0);
    while (!atomic_load(&c.done) && now_s() - start < 3.0)
        sleep_us(1000);
    CHECK(atomic_load(&c.done));
    pthread_join(c.thread, NULL);
    double took = c.returned_at - start;
    CHECK_EQ(r.in_scope, 0);             /* its own timeout: nothing ready */
    CHECK(took >= 0.29 && took < 1.0);   /* not restarted by the cancel */
    CHECK_EQ(r.scope_end, 1);
    CHECK_EQ(r.after, -ECANCELED);
    iio_group_destroy(group);
    close(p[0]);
    close(p[1]);
}


/* ---- Fault injection ----------------------------------------------------- */

struct fault_stream {
    int fd;
    uint32_t words;
    long cancels, timeouts, eintrs, others;
};

/* Handles what a user's loop must: short counts, -ECANCELED, -ETIMEDOUT
 * (nothing moved: try again); an EINTR must never surface. */
static long transfer_fully(struct fault_stream *f, char *bytes, size_t length,
                           bool writing) {
    size_t done = 0;
    while (done < length) {
        long r = writing ? iio_write(f->fd, bytes + done, length - done)
                         : iio_read(f->fd, bytes + done, length - done);
        if (r > 0)
            done += (size_t)r;
        else if (r == -ECANCELED)
            f->cancels++;
        else if (r == -ETIMEDOUT)
            f->timeouts++;
        else if (r == -EINTR)
            f->eintrs++;
        else {
            f->others++;
            return r;
        }
    }
    return (long)done;
}

static long fault_writer(void *p) {
    struct fault_stream *f = p;
    uint32_t chunk[1024];
    for (uint32_t next = 0; next < f->words;) {
        uint32_t n = f->words - next < 1024 ? f->words - next : 1024;
        for (uint32_t i = 0; i < n; i++)
            chunk[i] = next + i;
        if (transfer_fully(f, (char *)chunk, n * 4u, true) != (long)n * 4)
            return -1;
        next += n;
    }
    return 0;
}

static void test_faults_stream_survives_every_kind(void) {
    int initial_mode = iio_entry_mode();
    CHECK_EQ(iio_faults_enable(0, 1000, 1), -EINVAL);
    CHECK_EQ(iio_faults_enable(IIO_FAULT_ALL, 1000001, 1), -EINVAL);
    CHECK_EQ(iio_faults_enable(IIO_FAULT_ALL, 200000, 42), 0); /* 20% */
    CHECK_EQ(iio_faults_enabled(), 1);
    CHECK_EQ(iio_entry_mode(), IIO_ENTRY_PORTABLE);
    CHECK_EQ(iio_set_entry_mode(IIO_ENTRY_PORTABLE), -EBUSY);
    int s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    uint32_t words = getenv("INTERRUPTIO_QUICK") ? 50000 : 400000;
    struct fault_stream writer = {.fd = s[0], .words = words};
    struct fault_stream reader = {.fd = s[1], .words = words};
    struct blocked_call c;
    start_call(&c, fault_writer, &writer);
    uint32_t expected = 0, word;
    bool in_order = true;
    while (expected < words) {
        if (transfer_fully(&reader, (char *)&word, 4, false) != 4)
            break;
        in_order &= word == expected;
        expected++;
    }
    pthread_join(c.thread, NULL);
    CHECK_EQ(c.result, 0);
    CHECK_EQ(expected, words);
    CHECK(in_order); /* nothing lost, nothing repeated */
    iio_fault_counts_t counts;
    iio_faults_counts(&counts);
    iio_faults_disable();
    CHECK_EQ(iio_faults_enabled(), 0);
    CHECK_EQ(iio_entry_mode(), initial_mode);
    CHECK_EQ(writer.eintrs + reader.eintrs, 0); /* hidden, as real ones */
    CHECK_EQ(writer.others + reader.others, 0);
    CHECK(counts.short_counts > 0 && counts.eintrs > 0);
    CHECK(counts.cancels > 0 && counts.timeouts > 0);
    /* Every injected error reached the caller exactly once. */
    CHECK_EQ((uint64_t)(writer.cancels + reader.cancels), counts.cancels);
    CHECK_EQ((uint64_t)(writer.timeouts + reader.timeouts), counts.timeouts);
    printf("     %llu calls: %llu short, %llu EINTR hidden, %llu ECANCELED, "
           "%llu ETIMEDOUT injected\n",
           (unsigned long long)counts.calls,
           (unsigned long long)counts.short_counts,
           (unsigned long long)counts.eintrs,
           (unsigned long long)counts.cancels,
           (unsigned long long)counts.timeouts);
    /* Off again: no call is touched. */
    char byte = 'x';
    for (int i = 0; i < 1000; i++) {
        CHECK_EQ(iio_write(s[0], &byte, 1), 1);
        CHECK_EQ(iio_read(s[1], &byte, 1), 1);
    }
    iio_fault_counts_t after;
    iio_faults_counts(&after);
    CHECK_EQ(after.calls, counts.calls);
    close(s[0]);
    close(s[1]);
}

/* INTERRUPTIO_FAULTS, read by iio_init in a fresh process. */
static int faults_env_scenario(bool expect_on) {
    if (iio_init(0, 0) != 0 || iio_faults_enabled() != (int)expect_on)
        return 1;
    int p[2];
    if (pipe(p) != 0)
        return 2;
    long cancels = 0, timeouts = 0;
    for (int i = 0; i < 1000; i++) {
        long r = iio_write(p[1], "ab", 2);
        cancels += r == -ECANCELED;
        timeouts += r == -ETIMEDOUT;
        while (r == 2) { /* reads are injected into too */
            long got = iio_read(p[0], (char[2]){0}, 2);
            cancels += got == -ECANCELED;
            timeouts += got == -ETIMEDOUT;
            if (got == 2)
                break;
            if (got != -ECANCELED && got != -ETIMEDOUT)
                return 3;
        }
    }
    iio_fault_counts_t counts;
    iio_faults_counts(&counts);
    if (!expect_on)
        return cancels == 0 && timeouts == 0 ? 0 : 4;
    /* rate=0.5,kinds=canceled+timedout: about half the writes fail. */
    if (cancels < 100 || timeouts < 100 || counts.short_counts != 0 ||
        counts.eintrs != 0 || (uint64_t)cancels != counts.cancels)
        return 5;
    return 0;
}

static void test_faults_from_environment(void) {
    setenv("INTERRUPTIO_FAULTS", "rate=0.5,seed=7,kinds=canceled+timedout", 1);
    CHECK_EQ(run_self("--faults-env-on"), 0);
    setenv("INTERRUPTIO_FAULTS", "rate=2", 1); /* malformed: stays off */
    CHECK_EQ(run_self("--faults-env-off"), 0);
    setenv("INTERRUPTIO_FAULTS", "rate=0.5,kinds=bogus", 1);
    CHECK_EQ(run_self("--faults-env-off"), 0);
    unsetenv("INTERRUPTIO_FAULTS");
}


int main(int argc, char **argv) {
    self_path = argv[0];
    if (argc > 1)
        return scenario(argv[1]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    pthread_t dog;
    pthread_create(&dog, NULL, watchdog, NULL);
    RUN(test_bad_signal_numbers);
    RUN(test_init_refuses_owned_signal_then_chains);
    RUN(test_bad_input);
    RUN(test_read_on_pipe_cancelled_then_reusable);
    RUN(test_recv_on_socketpair_cancelled_then_reusable);
    RUN(test_write_into_full_pipe_cancelled);
    RUN(test_send_into_full_socket_cancelled);
    RUN(test_accept_cancelled_then_reusable);
    RUN(test_connect_cancelled_then_finished);
    RUN(test_poll_cancelled);
    RUN(test_openat_fifo_cancelled);
    RUN(test_sticky_cancel);
    RUN(test_cancel_when_idle_or_exited);
    RUN(test_foreign_signals);
    RUN(test_interruptible_check_sees_blocked_mask);
    RUN(test_registration_unblocks_signal);
    RUN(test_race_cancel_at_entry_pc_window);
    RUN(test_race_cancel_at_entry_portable);
    RUN(test_stream_intact_under_cancels_pc_window);
    RUN(test_stream_intact_under_cancels_portable);
    RUN(test_thread_churn);
    RUN(test_group_cancels_every_member_until_reset);
    RUN(test_fork_child_can_cancel);
    RUN(test_stale_own_signal_never_reaches_chained_handler);
    RUN(test_queued_stale_signal_is_dropped);
    RUN(test_chained_handler_runs_with_its_mask_and_flags);
    RUN(test_race_with_entry_mode_switching);
    RUN(test_request_outlasts_long_handler_portable);
    RUN(test_request_outlasts_long_handler_pc_window);
    RUN(test_cancel_reports_refused_signal);
    RUN(test_cancel_in_child_of_raw_fork);
    RUN(test_waitid_cancelled_then_reaps);
    RUN(test_fd_bad_input);
    RUN(test_fd_past_deadline_returns_every_acceptor);
    RUN(test_fd_past_deadline_returns_every_reader);
    RUN(test_fd_later_deadline_lets_every_reader_go_on);
    RUN(test_fd_close_returns_every_caller);
    RUN(test_fd_close_never_touches_a_reused_number);
    RUN(test_fd_shutdown);
    RUN(test_fd_close_from_own_handler_refused);
    RUN(test_fd_deadline_reaches_a_call_whose_handler_used_another);
    RUN(test_fd_close_in_fork_child);
    RUN(test_deadline_fires_for_read_write_accept_poll);
    RUN(test_deadline_set_for_from_another_thread);
    RUN(test_deadline_stream_with_deadlines_at_entry);
    RUN(test_deadline_thread_exits_with_deadline_pending);
    RUN(test_deadline_fork_with_deadlines_pending);
    RUN(test_fd_future_deadline_fires_for_every_reader);
    RUN(test_shield_keeps_cancels_until_scope_ends);
    RUN(test_shield_kept_cancel_cleared_by_clear_cancel);
    RUN(test_shield_lets_deadlines_fire);
    RUN(test_shield_with_sticky_cancel_and_nesting);
    RUN(test_shield_group_cancel_poll_keeps_end_time);
    RUN(test_faults_stream_survives_every_kind);
    RUN(test_faults_from_environment);
    if (skipped)
        printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    else
        printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
