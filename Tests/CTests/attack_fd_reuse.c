/*
 * Outside attack on iio_fd_close's reuse guarantee: no call ever touches
 * the number after close has returned; the number is closed exactly once.
 * Each case runs in its own forked child under a timeout.
 *   TEST_PROGRAM=attack_fd_reuse Tests/CTests/build.sh /tmp/attack_fd_reuse
 *   /tmp/attack_fd_reuse [case-substring]      (ROUNDS=N to change rounds)
 */
#include "attack_harness.h"

static int rounds(int n) {
    const char *e = getenv("ROUNDS");
    return e ? atoi(e) : n;
}


/* ---- looping users of one iio_fd_t -------------------------------------- */

enum kind { K_READ, K_READV, K_RECV, K_RECVMSG, K_POLL_IN, K_SEND, K_WRITEV, K_SENDMSG, K_POLL_OUT, K_SETTER, K_SHUTDOWN_PROBE, K_NKINDS, K_SHUTDOWN_LOOP };

typedef struct {
    iio_fd_t *fd;
    int kind;
    unsigned seed;
    pthread_t th;
    _Atomic int started;
    long last;
    long foreign; /* bytes read that were not the old stream's 'o' */
    long calls;
} user_t;

static void *user_main(void *p) {
    user_t *u = p;
    char buf[512];
    memset(buf, 'o', sizeof buf);
    atomic_store(&u->started, 1);
    for (;;) {
        long r;
        struct iovec v[2] = {{buf, 100}, {buf + 100, sizeof buf - 100}};
        struct msghdr mh = {.msg_iov = v, .msg_iovlen = 2};
        iio_fd_call_t call;
        int n;
        u->calls++;
        switch (u->kind) {
        case K_READ: r = iio_fd_read(u->fd, buf, sizeof buf); break;
        case K_READV: r = iio_fd_readv(u->fd, v, 2); break;
        case K_RECV: r = iio_fd_recv(u->fd, buf, sizeof buf, 0); break;
        case K_RECVMSG: r = iio_fd_recvmsg(u->fd, &mh, 0); break;
        case K_POLL_IN:
            n = iio_fd_begin(u->fd, IIO_FD_READ, &call);
            r = n < 0 ? n : iio_fd_end(u->fd, &call, iio_recv(n, buf, sizeof buf, 0));
            break;
        case K_SEND: r = iio_fd_send(u->fd, buf, 64, MSG_NOSIGNAL); break;
        case K_WRITEV: r = iio_fd_writev(u->fd, v, 1); break;
        case K_SENDMSG: r = iio_fd_sendmsg(u->fd, &mh, MSG_NOSIGNAL); break;
        case K_POLL_OUT:
            n = iio_fd_begin(u->fd, IIO_FD_WRITE, &call);
            r = n < 0 ? n : iio_fd_end(u->fd, &call, iio_send(n, buf, 32, MSG_NOSIGNAL));
            break;
        case K_SETTER:
            r = iio_fd_set_deadline(u->fd, 1 + rand_r(&u->seed) % 3, rand_r(&u->seed) % 4 ? IIO_NEVER : 1);
            if (r == 0 || r == 1) {
                sched_yield();
                continue;
            }
            break;
        case K_SHUTDOWN_LOOP:
            r = iio_fd_shutdown(u->fd, rand_r(&u->seed) % 3);
            if (r == 0 || r == -ENOTCONN) {
                sched_yield();
                continue;
            }
            break;
        default:
            /* shutdown with an invalid `how` still has to go to the kernel
             * to learn it's invalid... use a valid no-op-ish one only after
             * close: this thread probes closed() then shutdown. */
            r = iio_fd_closed(u->fd) ? iio_fd_shutdown(u->fd, SHUT_RDWR) : 1;
            if (r == 1) {
                sched_yield();
                continue;
            }
            break;
        }
        if (u->kind <= K_POLL_IN && r > 0) {
            for (long i = 0; i < r && i < (long)sizeof buf; i++)
                if (buf[i] != 'o' && buf[i] != 'p')
                    u->foreign++;
            memset(buf, 'o', sizeof buf);
            continue;
        }
        if (r > 0)
            continue;
        if (r == -ETIMEDOUT || r == -EAGAIN) {
            sched_yield();
            continue;
        }
        u->last = r;
        return NULL;
    }
}

/* A peer that echoes a trickle of 'p' and drains. */
typedef struct {
    int fd;
    _Atomic int stop;
    pthread_t th;
} peer_t;
static void *peer_main(void *p) {
    peer_t *pe = p;
    char buf[4096];
    int fl = fcntl(pe->fd, F_GETFL);
    fcntl(pe->fd, F_SETFL, fl | O_NONBLOCK);
    while (!atomic_load(&pe->stop)) {
        ssize_t n = recv(pe->fd, buf, sizeof buf, 0);
        (void)n;
        memset(buf, 'p', 8);
        send(pe->fd, buf, 8, MSG_NOSIGNAL);
        sleep_us(50);
    }
    return NULL;
}

#define SENTINEL "SENTINEL-OF-THE-NEW-OWNER"

/* R1. Many users of all kinds on a socketpair end; at a random moment
 *     close; at once the number is taken by a new socketpair end (via
 *     socketpair() or dup2()) whose peer has queued a sentinel. After every
 *     old user has ended: the sentinel is intact, the new peer got nothing,
 *     the new socket is not shut down, and freeing the old object leaves the
 *     number open. */
static void reuse_round(unsigned *seed, int use_dup2, int nusers, long *reused_out) {
    int s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) == 0, "sp");
    iio_fd_t *fd = NULL;
    CHECK(iio_fd_wrap(s[0], &fd) == 0, "wrap");
    int num = s[0];
    peer_t pe = {.fd = s[1]};
    pthread_create(&pe.th, NULL, peer_main, &pe);
    user_t u[24];
    memset(u, 0, sizeof u);
    for (int i = 0; i < nusers; i++) {
        u[i].fd = fd;
        u[i].kind = i % K_NKINDS;
        u[i].seed = rand_r(seed);
        pthread_create(&u[i].th, NULL, user_main, &u[i]);
    }
    for (int i = 0; i < nusers; i++)
        while (!atomic_load(&u[i].started))
            sched_yield();
    sleep_us(rand_r(seed) % 3000);
    int t[2];
    int spare = -1;
    if (use_dup2) {
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t) == 0, "sp2");
        CHECK(write(t[1], SENTINEL, sizeof SENTINEL) == (ssize_t)sizeof SENTINEL, "w");
    }
    int cr = iio_fd_close(fd);
    CHECK(cr == 0, "close = %d", cr);
    int newnum;
    if (use_dup2) {
        newnum = dup2(t[0], num); /* the instant close has returned */
        CHECK(newnum == num, "dup2");
        spare = t[0];
    } else {
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t) == 0, "sp2");
        newnum = t[0];
        CHECK(write(t[1], SENTINEL, sizeof SENTINEL) == (ssize_t)sizeof SENTINEL, "w");
        if (newnum == num)
            (*reused_out)++;
    }
    for (int i = 0; i < nusers; i++) {
        double t0 = now_s();
        while (pthread_tryjoin_np(u[i].th, NULL) != 0) {
            CHECK(now_s() - t0 < 3.0, "user %d (kind %d) still running 3 s after close returned", i, u[i].kind);
            sleep_us(200);
        }
        CHECK(u[i].foreign == 0, "user %d (kind %d) read %ld foreign bytes", i, u[i].kind, u[i].foreign);
        CHECK(u[i].last == -EBADF, "user %d (kind %d) ended with %ld", i, u[i].kind, u[i].last);
    }
    atomic_store(&pe.stop, 1);
    pthread_join(pe.th, NULL);
    iio_fd_free(fd);
    CHECK(is_open(newnum), "the new owner's number was closed by the old object");
    char buf[64];
    ssize_t n = recv(newnum, buf, sizeof buf, MSG_DONTWAIT);
    CHECK(n == (ssize_t)sizeof SENTINEL && memcmp(buf, SENTINEL, sizeof SENTINEL) == 0, "sentinel consumed (recv = %zd)", n);
    n = recv(t[1], buf, sizeof buf, MSG_DONTWAIT);
    CHECK(n == -1 && errno == EAGAIN, "the new owner's peer received %zd bytes from an old writer", n);
    CHECK(send(newnum, "k", 1, MSG_NOSIGNAL) == 1, "new socket shut down");
    CHECK(recv(t[1], buf, 1, MSG_DONTWAIT) == 1, "new socket shut down for reading at the peer?");
    close(newnum);
    close(t[1]);
    if (spare >= 0)
        close(spare);
    close(s[1]);
}
static void c_reuse_socketpair_all_kinds(void) {
    unsigned seed = (unsigned)getpid();
    long reused = 0;
    int n = rounds(300);
    for (int round = 0; round < n; round++)
        reuse_round(&seed, 0, 12, &reused);
    CHECK(reused > n / 2, "the race was not staged (%ld reuses)", reused);
    printf("  (%ld/%d rounds reused the number)\n", reused, n);
}
static void c_reuse_dup2_all_kinds(void) {
    unsigned seed = (unsigned)getpid() * 3;
    long reused = 0;
    int n = rounds(300);
    for (int round = 0; round < n; round++)
        reuse_round(&seed, 1, 22, &reused);
}

/* R2. Acceptors loop on a wrapped listener; close at a random moment; a
 *     new listener takes the number at once and a client connects to it.
 *     No old acceptor may take that connection. */
static void *acceptor(void *p) {
    iio_fd_t *fd = p;
    for (;;) {
        int a = iio_fd_accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (a >= 0) {
            close(a);
            continue;
        }
        if (a == -ECONNABORTED || a == -ETIMEDOUT)
            continue;
        return (void *)(long)a;
    }
}
static int tcp_listener(struct sockaddr_in *addr) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t l = sizeof a;
    CHECK(bind(s, (void *)&a, l) == 0 && listen(s, 16) == 0, "listen");
    getsockname(s, (void *)&a, &l);
    *addr = a;
    return s;
}
static void c_reuse_listener(void) {
    unsigned seed = 77;
    int n = rounds(300);
    long reused = 0;
    for (int round = 0; round < n; round++) {
        struct sockaddr_in a1, a2;
        int l = tcp_listener(&a1);
        iio_fd_t *fd;
        CHECK(iio_fd_wrap(l, &fd) == 0, "wrap");
        pthread_t th[4];
        for (int i = 0; i < 4; i++)
            pthread_create(&th[i], NULL, acceptor, fd);
        /* keep some connections coming to the old listener */
        int cs[8];
        int nc = rand_r(&seed) % 8;
        for (int i = 0; i < nc; i++) {
            cs[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            connect(cs[i], (void *)&a1, sizeof a1);
        }
        sleep_us(rand_r(&seed) % 2000);
        CHECK(iio_fd_close(fd) == 0, "close");
        int l2 = tcp_listener(&a2);
        if (l2 == l)
            reused++;
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(connect(c, (void *)&a2, sizeof a2) == 0, "connect new");
        for (int i = 0; i < 4; i++) {
            void *r;
            pthread_join(th[i], &r);
            CHECK((long)r == -EBADF, "acceptor ended %ld", (long)r);
        }
        iio_fd_free(fd);
        CHECK(is_open(l2), "new listener closed");
        int fl = fcntl(l2, F_GETFL);
        fcntl(l2, F_SETFL, fl | O_NONBLOCK);
        int acc = accept(l2, NULL, NULL);
        CHECK(acc >= 0, "round %d: the new listener's connection was taken by an old acceptor (accept: %s)", round, strerror(errno));
        close(acc);
        close(c);
        close(l2);
        for (int i = 0; i < nc; i++)
            close(cs[i]);
    }
    CHECK(reused > n / 2, "not staged: %ld", reused);
}

/* R3. Threads that make their FIRST library call on the descriptor right
 *     as it is closed (thread registration on the path). */
typedef struct {
    iio_fd_t *fd;
    _Atomic int *go;
    long r;
    long foreign;
    pthread_t th;
} first_t;
static void *first_call(void *p) {
    first_t *f = p;
    while (!atomic_load(f->go))
        ;
    char buf[64];
    memset(buf, 'o', sizeof buf);
    f->r = iio_fd_read(f->fd, buf, sizeof buf);
    if (f->r > 0)
        for (long i = 0; i < f->r; i++)
            f->foreign += buf[i] != 'o';
    return NULL;
}
static void c_reuse_first_calls_of_new_threads(void) {
    unsigned seed = 99;
    int n = rounds(400);
    for (int round = 0; round < n; round++) {
        int p[2];
        CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe");
        iio_fd_t *fd;
        CHECK(iio_fd_wrap(p[0], &fd) == 0, "wrap");
        _Atomic int go = 0;
        first_t f[6];
        memset(f, 0, sizeof f);
        for (int i = 0; i < 6; i++) {
            f[i].fd = fd;
            f[i].go = &go;
            pthread_create(&f[i].th, NULL, first_call, &f[i]);
        }
        atomic_store(&go, 1);
        for (volatile unsigned k = rand_r(&seed) % 30000; k; k--)
            ;
        CHECK(iio_fd_close(fd) == 0, "close");
        int q[2];
        CHECK(pipe2(q, O_CLOEXEC) == 0, "pipe q");
        int newr = q[0] == p[0] ? q[0] : q[1] == p[0] ? q[1] : -1;
        /* If the number went to q's read end, queue a sentinel in it;
         * if to q's write end, an old read on it fails with EBADF anyway. */
        if (newr == q[0])
            CHECK(write(q[1], SENTINEL, sizeof SENTINEL) == (ssize_t)sizeof SENTINEL, "w");
        for (int i = 0; i < 6; i++) {
            double t0 = now_s();
            while (pthread_tryjoin_np(f[i].th, NULL) != 0) {
                CHECK(now_s() - t0 < 3.0, "round %d: first-call thread %d hung", round, i);
                sleep_us(200);
            }
            CHECK(f[i].r == -EBADF, "round %d thread %d = %ld", round, i, f[i].r);
            CHECK(f[i].foreign == 0, "foreign");
        }
        iio_fd_free(fd);
        if (newr == q[0]) {
            char buf[64];
            int fl = fcntl(q[0], F_GETFL);
            fcntl(q[0], F_SETFL, fl | O_NONBLOCK);
            ssize_t n2 = read(q[0], buf, sizeof buf);
            CHECK(n2 == (ssize_t)sizeof SENTINEL, "round %d: sentinel consumed (%zd)", round, n2);
        }
        CHECK(is_open(q[0]) && is_open(q[1]), "closed twice");
        close(q[0]);
        close(q[1]);
        close(p[1]);
    }
}

/* R4. Close racing with a deadline setter and a shutdown caller: the
 *     setter may get 0/1 or -EBADF; a shutdown that returns after close
 *     must not have shut down the new owner. */
static void c_reuse_shutdown_race(void) {
    unsigned seed = 5;
    int n = rounds(500);
    for (int round = 0; round < n; round++) {
        int s[2];
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) == 0, "sp");
        iio_fd_t *fd;
        CHECK(iio_fd_wrap(s[0], &fd) == 0, "wrap");
        user_t u[3];
        memset(u, 0, sizeof u);
        u[0].fd = u[1].fd = u[2].fd = fd;
        u[0].kind = K_SHUTDOWN_LOOP;
        u[1].kind = K_SETTER;
        u[1].seed = rand_r(&seed);
        u[2].kind = K_RECV;
        for (int i = 0; i < 3; i++)
            pthread_create(&u[i].th, NULL, user_main, &u[i]);
        for (int i = 0; i < 3; i++)
            while (!atomic_load(&u[i].started))
                sched_yield();
        sleep_us(rand_r(&seed) % 500);
        CHECK(iio_fd_close(fd) == 0, "close");
        int t[2];
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t) == 0, "sp");
        for (int i = 0; i < 3; i++) {
            pthread_join(u[i].th, NULL);
            CHECK(u[i].last == -EBADF || (u[i].kind == K_RECV && u[i].last == 0), "kind %d ended %ld", u[i].kind, u[i].last);
        }
        iio_fd_free(fd);
        CHECK(send(t[0], "a", 1, MSG_NOSIGNAL) == 1 && send(t[1], "b", 1, MSG_NOSIGNAL) == 1, "round %d: the new socket was shut down", round);
        close(t[0]);
        close(t[1]);
        close(s[1]);
    }
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    g_filter = argc > 1 ? argv[1] : NULL;
    printf("# entry mode %s\n", getenv("INTERRUPTIO_ENTRY") ? getenv("INTERRUPTIO_ENTRY") : "(default)");
    run_case("reuse_socketpair_all_kinds", c_reuse_socketpair_all_kinds, 180);
    run_case("reuse_dup2_all_kinds", c_reuse_dup2_all_kinds, 180);
    run_case("reuse_listener", c_reuse_listener, 120);
    run_case("reuse_first_calls_of_new_threads", c_reuse_first_calls_of_new_threads, 120);
    run_case("reuse_shutdown_race", c_reuse_shutdown_race, 120);
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
