#include "ccompare.h"

#include <liburing.h>
#include <errno.h>
#include <fcntl.h>
#include <interruptio.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int rd = -1, wr = -1; /* the socketpair: reads on rd */
static int quiet_rd = -1;    /* a socket that never has data */
static timer_t timer;
static struct io_uring ring;
static int have_uring;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static volatile sig_atomic_t timer_fired;
static void on_timer(int sig) {
    (void)sig;
    timer_fired++;
}

int cmp_init(void) {
    int s[2], q[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, s) || socketpair(AF_UNIX, SOCK_STREAM, 0, q))
        return -errno;
    int big = 4 << 20;
    setsockopt(s[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    setsockopt(s[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    rd = s[0];
    wr = s[1];
    quiet_rd = q[0];
    fcntl(wr, F_SETFL, O_NONBLOCK);

    /* A per-thread kernel timer: SIGEV_THREAD_ID to this thread, and a
     * handler without SA_RESTART so that a blocked read returns EINTR. */
    int timer_signal = SIGRTMIN + 3;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_timer;
    sigaction(timer_signal, &sa, NULL);
    sigset_t unblock;
    sigemptyset(&unblock);
    sigaddset(&unblock, timer_signal);
    pthread_sigmask(SIG_UNBLOCK, &unblock, NULL);
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = timer_signal;
    ev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
    if (timer_create(CLOCK_MONOTONIC, &ev, &timer) != 0)
        return -errno;
    have_uring = io_uring_queue_init(8, &ring, 0) == 0;
    return 0;
}

int cmp_uring_available(void) { return have_uring; }
int cmp_read_fd(void) { return rd; }

void cmp_refill(int count) {
    static char zeros[65536];
    int queued = 0;
    if (ioctl(rd, FIONREAD, &queued) != 0)
        queued = 0;
    while (queued < count) {
        size_t want = (size_t)(count - queued);
        ssize_t n = write(wr, zeros, want < sizeof zeros ? want : sizeof zeros);
        if (n <= 0)
            break;
        queued += (int)n;
    }
}

static inline int uring_read(int fd, char *c, uint64_t timeout_ns) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_prep_read(sqe, fd, c, 1, 0);
    sqe->flags |= IOSQE_IO_LINK;
    sqe->user_data = 1;
    struct __kernel_timespec ts = {(long long)(timeout_ns / 1000000000u),
                                   (long long)(timeout_ns % 1000000000u)};
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_link_timeout(sqe, &ts, 0);
    sqe->user_data = 2;
    io_uring_submit_and_wait(&ring, 2);
    int result = 0;
    for (int i = 0; i < 2; i++) {
        struct io_uring_cqe *cqe;
        io_uring_wait_cqe(&ring, &cqe);
        if (cqe->user_data == 1)
            result = cqe->res;
        io_uring_cqe_seen(&ring, cqe);
    }
    return result;
}

uint64_t cmp_run(int method, int count) {
    char c;
    uint64_t start = now_ns();
    uint64_t fixed = start + 10000000000ull; /* 10 s: never reached */
    switch (method) {
    case CMP_BARE_READ:
        for (int i = 0; i < count; i++)
            read(rd, &c, 1);
        break;
    case CMP_IIO_READ:
        for (int i = 0; i < count; i++)
            iio_read(rd, &c, 1);
        break;
    case CMP_IIO_DEADLINE:
        for (int i = 0; i < count; i++) {
            iio_deadline_set(fixed);
            iio_read(rd, &c, 1);
            iio_deadline_set(IIO_NEVER);
        }
        break;
    case CMP_IIO_FRESH_DEADLINE:
        for (int i = 0; i < count; i++) {
            iio_deadline_set(iio_now_ns() + 1000000000u);
            iio_read(rd, &c, 1);
            iio_deadline_set(IIO_NEVER);
        }
        break;
    case CMP_POLL_READ:
        for (int i = 0; i < count; i++) {
            struct pollfd p = {.fd = rd, .events = POLLIN};
            struct timespec t = {1, 0};
            ppoll(&p, 1, &t, NULL);
            read(rd, &c, 1);
        }
        break;
    case CMP_RCVTIMEO_READ:
        for (int i = 0; i < count; i++) {
            struct timeval tv = {1, 0};
            setsockopt(rd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            read(rd, &c, 1);
        }
        break;
    case CMP_TIMER_READ:
        for (int i = 0; i < count; i++) {
            struct itimerspec arm = {{0, 0}, {1, 0}}, disarm = {{0, 0}, {0, 0}};
            timer_settime(timer, 0, &arm, NULL);
            read(rd, &c, 1);
            timer_settime(timer, 0, &disarm, NULL);
        }
        break;
    case CMP_URING_READ:
        if (!have_uring)
            return 0;
        for (int i = 0; i < count; i++)
            uring_read(rd, &c, 1000000000u);
        break;
    }
    return now_ns() - start;
}

int64_t cmp_lateness_sample(int method, uint64_t seed) {
    char c;
    uint64_t deadline = now_ns() + 1000000u + seed % 600000u;
    int64_t r = 0;
    switch (method) {
    case CMP_LATE_IIO:
        iio_deadline_set(deadline);
        r = iio_read(quiet_rd, &c, 1);
        iio_deadline_set(IIO_NEVER);
        if (r != -ETIMEDOUT)
            return -1;
        break;
    case CMP_LATE_TIMER: {
        /* This technique has the race InterruptIO closes: if the signal
         * lands before read() starts, read() blocks. A repeating interval
         * keeps the benchmark from hanging; a sample that needed it is
         * counted as failed. */
        struct itimerspec arm = {{0, 200000}, {(time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u)}};
        struct itimerspec disarm = {{0, 0}, {0, 0}};
        timer_fired = 0;
        timer_settime(timer, TIMER_ABSTIME, &arm, NULL);
        r = read(quiet_rd, &c, 1);
        int saved = errno;
        uint64_t returned = now_ns();
        timer_settime(timer, 0, &disarm, NULL);
        if (r != -1 || saved != EINTR || timer_fired != 1)
            return -1;
        return (int64_t)(returned - deadline);
    }
    case CMP_LATE_URING: {
        if (!have_uring)
            return -1;
        uint64_t now = now_ns();
        r = uring_read(quiet_rd, &c, deadline > now ? deadline - now : 0);
        if (r != -ECANCELED && r != -EINTR && r != -ETIME)
            return -1;
        break;
    }
    case CMP_LATE_POLL: {
        struct pollfd p = {.fd = quiet_rd, .events = POLLIN};
        uint64_t now = now_ns();
        uint64_t left = deadline > now ? deadline - now : 0;
        struct timespec t = {(time_t)(left / 1000000000u), (long)(left % 1000000000u)};
        if (ppoll(&p, 1, &t, NULL) != 0)
            return -1;
        break;
    }
    }
    return (int64_t)(now_ns() - deadline);
}

/* ---- Scale ---------------------------------------------------------------- */

/* Threads stay until the timing is done: they block reading this pipe, and
 * closing its write end releases them all at once. */
static int release_pipe[2] = {-1, -1};

struct blocked {
    pthread_t thread;
    int fds[2];
    uint64_t deadline;
    int64_t late;
    iio_thread_t handle;
    _Atomic int ready;
    _Atomic int done;
    uint64_t returned;
};

static void *blocked_main(void *p) {
    struct blocked *b = p;
    iio_self(&b->handle);
    if (b->deadline != IIO_NEVER)
        iio_deadline_set(b->deadline);
    atomic_store(&b->ready, 1);
    char c;
    ssize_t r = iio_read(b->fds[0], &c, 1);
    b->returned = now_ns();
    b->late = (r == -ETIMEDOUT || r == -ECANCELED) ? (int64_t)(b->returned - b->deadline) : INT64_MIN;
    atomic_store(&b->done, 1);
    /* Exit only once every thread has returned: a thread's exit is not part
     * of what is measured and must not take the cores from the others. */
    char ignored;
    while (read(release_pipe[0], &ignored, 1) < 0 && errno == EINTR) {
    }
    return NULL;
}

static struct blocked *start_blocked(int threads, uint64_t start, uint64_t spread) {
    struct blocked *all = calloc((size_t)threads, sizeof *all);
    if (!all)
        return NULL;
    if (pipe(release_pipe) != 0) {
        free(all);
        return NULL;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    for (int i = 0; i < threads; i++) {
        if (pipe(all[i].fds) != 0) {
            threads = i;
            break;
        }
        all[i].deadline = spread ? start + (spread * (uint64_t)i) / (uint64_t)threads : IIO_NEVER;
        pthread_create(&all[i].thread, &attr, blocked_main, &all[i]);
    }
    pthread_attr_destroy(&attr);
    for (int i = 0; i < threads; i++)
        while (!atomic_load(&all[i].ready))
            sched_yield();
    return all;
}

static void finish_blocked(struct blocked *all, int threads) {
    close(release_pipe[1]);
    for (int i = 0; i < threads; i++) {
        pthread_join(all[i].thread, NULL);
        close(all[i].fds[0]);
        close(all[i].fds[1]);
    }
    close(release_pipe[0]);
    free(all);
}

int cmp_scale_deadlines(int threads, uint64_t spread_ns, int64_t *late_ns) {
    uint64_t start = now_ns() + 200000000u; /* all blocked before the first */
    struct blocked *all = start_blocked(threads, start, spread_ns);
    if (!all)
        return -1;
    for (int i = 0; i < threads; i++) {
        while (!atomic_load(&all[i].done))
            usleep(1000);
        late_ns[i] = all[i].late;
    }
    finish_blocked(all, threads);
    return 0;
}

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

int64_t cmp_scale_cancel_all(int threads, int64_t *rss_per_thread) {
    long before = rss_kib();
    struct blocked *all = start_blocked(threads, 0, 0);
    if (!all)
        return -1;
    usleep(50000); /* all inside read(2) */
    long after = rss_kib();
    *rss_per_thread = (after - before) * 1024 / threads;
    uint64_t first = now_ns();
    for (int i = 0; i < threads; i++)
        iio_cancel(all[i].handle);
    if (getenv("CMP_DEBUG"))
        fprintf(stderr, "cancels issued in %.2f ms\n", (now_ns() - first) / 1e6);
    uint64_t last = 0;
    for (int i = 0; i < threads; i++) {
        /* Sleep rather than spin: the waiter must not take a core from the
         * threads it is timing. */
        while (!atomic_load(&all[i].done))
            usleep(500);
        if (all[i].returned > last)
            last = all[i].returned;
    }
    finish_blocked(all, threads);
    return (int64_t)(last - first);
}
