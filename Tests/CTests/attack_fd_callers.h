/*
 * Threads that each make one blocking call on an iio_fd_t, for the
 * descriptor attacks (attack_fd_contract.c, attack_fd_round2.c).
 */
#ifndef ATTACK_FD_CALLERS_H
#define ATTACK_FD_CALLERS_H

#include "attack_harness.h"

/* ---- callers ------------------------------------------------------------ */

enum op {
    OP_READ, OP_READV, OP_RECV, OP_RECVMSG, OP_POLL_IN, /* read side */
    OP_ACCEPT,
    OP_WRITE, OP_WRITEV, OP_SEND, OP_SENDMSG, OP_POLL_OUT, /* write side */
    OP_RECV_WAITALL, OP_PLAIN_READ,
};
static const char *op_name[] = {"read", "readv", "recv", "recvmsg", "poll-in",
                                "accept", "write", "writev", "send", "sendmsg",
                                "poll-out", "recv-waitall", "plain-read"};

typedef struct caller {
    iio_fd_t *fd;
    int plain; /* for OP_PLAIN_READ */
    int op;
    size_t len;
    pthread_t th;
    iio_thread_t h;
    iio_group_t *group;
    _Atomic int started, done;
    long result;
    uint64_t done_at;
    char buf[8192];
} caller_t;

static long do_op(caller_t *c) {
    struct iovec iov[2] = {{c->buf, c->len / 2}, {c->buf + c->len / 2, c->len - c->len / 2}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    iio_fd_call_t call;
    int n;
    switch (c->op) {
    case OP_READ: return iio_fd_read(c->fd, c->buf, c->len);
    case OP_READV: return iio_fd_readv(c->fd, iov, 2);
    case OP_RECV: return iio_fd_recv(c->fd, c->buf, c->len, 0);
    case OP_RECVMSG: return iio_fd_recvmsg(c->fd, &mh, 0);
    case OP_RECV_WAITALL: return iio_fd_recv(c->fd, c->buf, c->len, MSG_WAITALL);
    case OP_POLL_IN:
        n = iio_fd_begin(c->fd, IIO_FD_READ, &call);
        if (n < 0)
            return n;
        return iio_fd_end(c->fd, &call, iio_poll(&(struct pollfd){n, POLLIN, 0}, 1, -1));
    case OP_ACCEPT: {
        int a = iio_fd_accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);
        return a;
    }
    case OP_WRITE: return iio_fd_write(c->fd, c->buf, c->len);
    case OP_WRITEV: return iio_fd_writev(c->fd, iov, 2);
    case OP_SEND: return iio_fd_send(c->fd, c->buf, c->len, MSG_NOSIGNAL);
    case OP_SENDMSG: return iio_fd_sendmsg(c->fd, &mh, MSG_NOSIGNAL);
    case OP_POLL_OUT:
        n = iio_fd_begin(c->fd, IIO_FD_WRITE, &call);
        if (n < 0)
            return n;
        return iio_fd_end(c->fd, &call, iio_poll(&(struct pollfd){n, POLLOUT, 0}, 1, -1));
    case OP_PLAIN_READ: return iio_read(c->plain, c->buf, c->len);
    }
    return -9999;
}

static void *caller_main(void *p) {
    caller_t *c = p;
    iio_self(&c->h);
    if (c->group)
        iio_group_join(c->group);
    memset(c->buf, 'w', sizeof c->buf);
    atomic_store(&c->started, 1);
    c->result = do_op(c);
    c->done_at = now_ns();
    atomic_store(&c->done, 1);
    return NULL;
}

static pthread_attr_t small_stack;
static void callers_start(caller_t *c, int n, iio_fd_t *fd, const int *ops, int nops, size_t len) {
    pthread_attr_init(&small_stack);
    pthread_attr_setstacksize(&small_stack, 64 * 1024);
    for (int i = 0; i < n; i++) {
        c[i].fd = fd;
        c[i].op = ops[i % nops];
        c[i].len = len;
        atomic_store(&c[i].started, 0);
        atomic_store(&c[i].done, 0);
        int e = pthread_create(&c[i].th, &small_stack, caller_main, &c[i]);
        CHECK(e == 0, "pthread_create %d: %s", i, strerror(e));
    }
    for (int i = 0; i < n; i++)
        while (!atomic_load(&c[i].started))
            sched_yield();
    sleep_us(40000);
}

/* All of c[0..n) done within limit seconds of since; returns count done. */
static int callers_wait(caller_t *c, int n, double since, double limit) {
    int done = 0;
    for (int i = 0; i < n; i++) {
        while (!atomic_load(&c[i].done) && now_s() - since < limit)
            sleep_us(500);
        if (atomic_load(&c[i].done))
            done++;
    }
    return done;
}
static int count_done(caller_t *c, int n) {
    int d = 0;
    for (int i = 0; i < n; i++)
        d += atomic_load(&c[i].done);
    return d;
}

static caller_t *callers_alloc(int n) {
    caller_t *c = calloc((size_t)n, sizeof *c);
    CHECK(c, "calloc");
    return c;
}

static void fill_send_buffer(int fd) {
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    char fill[1024];
    memset(fill, 'x', sizeof fill);
    while (send(fd, fill, sizeof fill, MSG_NOSIGNAL) > 0) {
    }
    fcntl(fd, F_SETFL, fl);
}
static void fill_pipe(int fd) {
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    char fill[4096];
    memset(fill, 'x', sizeof fill);
    while (write(fd, fill, sizeof fill) > 0) {
    }
    while (write(fd, fill, 1) > 0) {
    }
    fcntl(fd, F_SETFL, fl);
}

static int listener(struct sockaddr_in *addr, int backlog) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t l = sizeof a;
    CHECK(bind(s, (void *)&a, l) == 0, "bind");
    CHECK(listen(s, backlog) == 0, "listen");
    getsockname(s, (void *)&a, &l);
    if (addr)
        *addr = a;
    return s;
}

static int count_open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the DIR's own */
}

static iio_fd_t *wrap(int n) {
    iio_fd_t *fd = NULL;
    int r = iio_fd_wrap(n, &fd);
    CHECK(r == 0 && fd, "iio_fd_wrap(%d) = %d", n, r);
    return fd;
}

#endif
