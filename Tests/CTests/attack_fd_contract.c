/*
 * Outside attack on iio_fd_t (Go's net.Conn contract), from the header and
 * RELIABILITY.md only. Each case runs in its own forked child under a
 * timeout; a hang is reported as a failure. Prints "ok NAME" or
 * "FAIL NAME: why"; exits non-zero on any failure.
 *   TEST_PROGRAM=attack_fd_contract Tests/CTests/build.sh /tmp/attack_fd_contract
 *   /tmp/attack_fd_contract [case-substring]
 * INTERRUPTIO_ENTRY=portable runs everything on the portable entry path.
 */
#include "attack_fd_callers.h"

/* ======================================================================== */
/* 1. A passed read deadline reaches 32 readers of 5 kinds; write deadline
 *    first reaches 8 writers of 5 kinds and leaves the readers alone.      */
static void c_mixed_directions_32_readers_8_writers(void) {
    int s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0, "socketpair");
    fill_send_buffer(s[0]);
    iio_fd_t *fd = wrap(s[0]);
    caller_t *r = callers_alloc(32), *w = callers_alloc(8);
    int rops[] = {OP_READ, OP_READV, OP_RECV, OP_RECVMSG, OP_POLL_IN};
    int wops[] = {OP_WRITE, OP_WRITEV, OP_SEND, OP_SENDMSG, OP_POLL_OUT};
    callers_start(r, 32, fd, rops, 5, 64);
    callers_start(w, 8, fd, wops, 5, 1024);
    CHECK(count_done(r, 32) == 0 && count_done(w, 8) == 0, "callers did not block");
    CHECK(iio_fd_set_deadline(fd, IIO_FD_WRITE, 1) == 0, "set write");
    double t = now_s();
    CHECK(callers_wait(w, 8, t, 2.0) == 8, "only %d/8 writers returned", count_done(w, 8));
    for (int i = 0; i < 8; i++)
        CHECK(w[i].result == -ETIMEDOUT || w[i].result > 0, "writer %d (%s) = %ld", i, op_name[w[i].op], w[i].result);
    sleep_us(100000);
    CHECK(count_done(r, 32) == 0, "a write deadline ended %d readers", count_done(r, 32));
    CHECK(iio_fd_set_deadline(fd, IIO_FD_READ, iio_now_ns()) == 0, "set read");
    t = now_s();
    int d = callers_wait(r, 32, t, 2.0);
    CHECK(d == 32, "only %d/32 readers returned within 2 s", d);
    for (int i = 0; i < 32; i++)
        CHECK(r[i].result == -ETIMEDOUT, "reader %d (%s) = %ld", i, op_name[r[i].op], r[i].result);
    /* Cleared, nothing was lost. */
    CHECK(iio_fd_set_deadline(fd, IIO_FD_BOTH, IIO_NEVER) == 0, "clear");
    CHECK(write(s[1], "Q", 1) == 1, "peer write");
    char b = 0;
    CHECK(iio_fd_read(fd, &b, 1) == 1 && b == 'Q', "byte after clearing");
}

/* 2. 16 acceptors on a TCP listener and 16 on a unix listener. */
static void c_acceptors_all_reached(void) {
    int l1 = listener(NULL, 64);
    int l2 = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un {
        sa_family_t f;
        char p[108];
    } ua = {AF_UNIX, ""};
    snprintf(ua.p + 1, sizeof ua.p - 1, "iio-attack-%d", getpid()); /* abstract */
    CHECK(bind(l2, (void *)&ua, sizeof ua) == 0 && listen(l2, 8) == 0, "unix listen");
    iio_fd_t *f1 = wrap(l1), *f2 = wrap(l2);
    caller_t *a = callers_alloc(32);
    int ops[] = {OP_ACCEPT};
    callers_start(a, 16, f1, ops, 1, 0);
    callers_start(a + 16, 16, f2, ops, 1, 0);
    CHECK(count_done(a, 32) == 0, "acceptors did not block");
    /* The write side of a listener is not the accept side. */
    iio_fd_set_deadline(f1, IIO_FD_WRITE, 1);
    sleep_us(50000);
    CHECK(count_done(a, 32) == 0, "write deadline ended an acceptor");
    iio_fd_set_deadline(f1, IIO_FD_READ, 1);
    double t = now_s();
    CHECK(callers_wait(a, 16, t, 2.0) == 16, "tcp acceptors: %d/16", count_done(a, 16));
    CHECK(count_done(a + 16, 16) == 0, "deadline on f1 ended an acceptor of f2");
    t = now_s();
    CHECK(iio_fd_close(f2) == 0, "close f2");
    CHECK(now_s() - t < 2.0, "close took %.2f s", now_s() - t);
    CHECK(count_done(a + 16, 16) >= 0, "x");
    CHECK(callers_wait(a + 16, 16, t, 2.0) == 16, "unix acceptors: %d/16", count_done(a + 16, 16));
    for (int i = 0; i < 16; i++)
        CHECK(a[i].result == -ETIMEDOUT, "tcp acceptor %d = %ld", i, a[i].result);
    for (int i = 16; i < 32; i++)
        CHECK(a[i].result == -EBADF, "unix acceptor %d = %ld", i, a[i].result);
}

/* 3. Deadline set while callers are starting: 8 threads start a read each
 *    at the same moment as the setter stores a passed deadline. Every one
 *    must end. 300 rounds. */
static _Atomic int go3;
static void *start_racer(void *p) {
    caller_t *c = p;
    iio_self(&c->h);
    atomic_store(&c->started, 1);
    while (!atomic_load(&go3))
        sched_yield();
    c->result = do_op(c);
    atomic_store(&c->done, 1);
    return NULL;
}
static void c_deadline_set_while_callers_start(void) {
    unsigned seed = (unsigned)getpid();
    for (int round = 0; round < 300; round++) {
        int p[2];
        CHECK(pipe(p) == 0, "pipe");
        iio_fd_t *fd = wrap(p[0]);
        caller_t c[8];
        memset(c, 0, sizeof c);
        atomic_store(&go3, 0);
        int ops[] = {OP_READ, OP_READV, OP_POLL_IN};
        for (int i = 0; i < 8; i++) {
            c[i].fd = fd;
            c[i].op = ops[i % 3];
            c[i].len = 8;
            pthread_create(&c[i].th, NULL, start_racer, &c[i]);
        }
        for (int i = 0; i < 8; i++)
            while (!atomic_load(&c[i].started))
                sched_yield();
        atomic_store(&go3, 1);
        for (volatile unsigned k = rand_r(&seed) % 20000; k; k--)
            ;
        iio_fd_set_deadline(fd, IIO_FD_READ, 1);
        double t = now_s();
        int d = callers_wait(c, 8, t, 2.0);
        CHECK(d == 8, "round %d: %d/8 callers ended within 2 s of a passed deadline", round, d);
        for (int i = 0; i < 8; i++) {
            CHECK(c[i].result == -ETIMEDOUT, "round %d caller %d = %ld", round, i, c[i].result);
            pthread_join(c[i].th, NULL);
        }
        iio_fd_free(fd);
        close(p[1]);
    }
}

/* 4. Threads alternate between descriptors: each loops "read B (data
 *    ready, returns at once), then read A (blocks)"; the source the thread
 *    publishes changes every call. A passed deadline on A set at a random
 *    moment must end every A read. */
typedef struct {
    iio_fd_t *a, *b;
    _Atomic int stop, started;
    long last_a;
    long a_reads;
    pthread_t th;
} alt_t;
static void *alternator(void *p) {
    alt_t *x = p;
    char buf[16];
    atomic_store(&x->started, 1);
    for (;;) {
        long r = iio_fd_read(x->b, buf, 1);
        if (r != 1) {
            x->last_a = -10000 + r;
            return NULL;
        }
        r = iio_fd_read(x->a, buf, 1);
        x->a_reads++;
        if (r != 1) {
            x->last_a = r;
            return NULL;
        }
    }
}
static void c_source_switching_callers_reached(void) {
    unsigned seed = (unsigned)getpid();
    int zero = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    iio_fd_t *b = wrap(zero);
    for (int round = 0; round < 200; round++) {
        int p[2];
        CHECK(pipe(p) == 0, "pipe");
        iio_fd_t *a = wrap(p[0]);
        alt_t x[6];
        memset(x, 0, sizeof x);
        for (int i = 0; i < 6; i++) {
            x[i].a = a;
            x[i].b = b;
            pthread_create(&x[i].th, NULL, alternator, &x[i]);
        }
        /* Keep A fed for a while so the threads cycle through B and A. */
        int feed = rand_r(&seed) % 200;
        for (int i = 0; i < feed; i++)
            if (write(p[1], "a", 1) != 1)
                break;
        sleep_us(rand_r(&seed) % 3000);
        iio_fd_set_deadline(a, IIO_FD_READ, 1);
        double t = now_s();
        for (int i = 0; i < 6; i++) {
            while (!atomic_load(&x[i].started))
                sched_yield();
        }
        for (int i = 0; i < 6; i++) {
            while (now_s() - t < 2.0 && pthread_tryjoin_np(x[i].th, NULL) != 0)
                sleep_us(500);
            CHECK(now_s() - t < 2.0, "round %d: thread %d still in a read on A 2 s after a passed deadline (a reads %ld)", round, i, x[i].a_reads);
            CHECK(x[i].last_a == -ETIMEDOUT, "round %d thread %d ended with %ld", round, i, x[i].last_a);
        }
        iio_fd_free(a);
        close(p[1]);
    }
    iio_fd_free(b);
}

/* 5. 8 setters race random values (never, far future, passed) for 20 000
 *    sets, each finishing with a passed deadline; 8 readers retry after each
 *    ETIMEDOUT until told the last set is done. Every reader must end. */
static _Atomic int final_set;
typedef struct {
    iio_fd_t *fd;
    unsigned seed;
    pthread_t th;
} setter_t;
static void *setter_main(void *p) {
    setter_t *s = p;
    for (int i = 0; i < 2500; i++) {
        uint64_t v;
        switch (rand_r(&s->seed) % 6) {
        case 0: v = IIO_NEVER; break;
        case 1: v = iio_now_ns() + 3600ull * 1000000000ull; break;
        case 2: v = iio_now_ns() + 100ull * 1000000000ull - (uint64_t)i * 1000; break;
        case 3: v = 1 + rand_r(&s->seed) % 1000; break;
        case 4: v = iio_now_ns() - 1000000; break;
        default: v = IIO_NEVER - 1; break;
        }
        int which = 1 + rand_r(&s->seed) % 3;
        int r = iio_fd_set_deadline(s->fd, which, v);
        if (r != 0 && r != 1) {
            printf("set_deadline = %d\n", r);
            _exit(1);
        }
    }
    iio_fd_set_deadline(s->fd, IIO_FD_READ, iio_now_ns() - 1000 - rand_r(&s->seed) % 1000000);
    return NULL;
}
static void *retry_reader(void *p) {
    caller_t *c = p;
    atomic_store(&c->started, 1);
    long r;
    long timeouts = 0;
    do {
        r = do_op(c);
        if (r == -ETIMEDOUT)
            timeouts++;
    } while (r == -ETIMEDOUT && !atomic_load(&final_set));
    c->result = r;
    atomic_store(&c->done, 1);
    return NULL;
}
static void c_concurrent_setters_final_passed_reaches_all(void) {
    for (int round = 0; round < 10; round++) {
        int s[2];
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0, "socketpair");
        iio_fd_t *fd = wrap(s[0]);
        caller_t *c = callers_alloc(8);
        int ops[] = {OP_READ, OP_RECV, OP_READV, OP_RECVMSG};
        atomic_store(&final_set, 0);
        for (int i = 0; i < 8; i++) {
            c[i].fd = fd;
            c[i].op = ops[i % 4];
            c[i].len = 16;
            pthread_create(&c[i].th, NULL, retry_reader, &c[i]);
        }
        setter_t st[8];
        for (int i = 0; i < 8; i++) {
            st[i].fd = fd;
            st[i].seed = (unsigned)(round * 100 + i);
            pthread_create(&st[i].th, NULL, setter_main, &st[i]);
        }
        for (int i = 0; i < 8; i++)
            pthread_join(st[i].th, NULL);
        uint64_t fin = iio_fd_deadline(fd, IIO_FD_READ);
        CHECK(fin <= iio_now_ns(), "round %d: final read deadline %llu not passed though every setter's last set was", round, (unsigned long long)fin);
        atomic_store(&final_set, 1);
        double t = now_s();
        int d = callers_wait(c, 8, t, 2.0);
        CHECK(d == 8, "round %d: %d/8 readers ended within 2 s of the final (passed) deadline", round, d);
        for (int i = 0; i < 8; i++) {
            CHECK(c[i].result == -ETIMEDOUT, "round %d reader %d = %ld", round, i, c[i].result);
            pthread_join(c[i].th, NULL);
        }
        iio_fd_free(fd);
        close(s[1]);
        free(c);
    }
}

/* 6. The same callers under iio_cancel, a group, a thread deadline and the
 *    descriptor's deadline: each reaches exactly whom it names. */
static void c_cancel_group_thread_deadline_mix(void) {
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    iio_fd_t *fd = wrap(p[0]);
    iio_group_t *g = iio_group_create();
    caller_t *c = callers_alloc(12);
    for (int i = 4; i < 8; i++)
        c[i].group = g;
    int ops[] = {OP_READ, OP_READV, OP_POLL_IN};
    callers_start(c, 12, fd, ops, 3, 4);
    CHECK(count_done(c, 12) == 0, "did not block");
    /* iio_cancel on 0 and 1 */
    CHECK(iio_cancel(c[0].h) == 1, "cancel 0");
    CHECK(iio_cancel(c[1].h) == 1, "cancel 1");
    CHECK(callers_wait(c, 2, now_s(), 2.0) == 2, "cancelled callers still blocked");
    CHECK(c[0].result == -ECANCELED && c[1].result == -ECANCELED, "cancel results %ld %ld", c[0].result, c[1].result);
    /* thread deadline on 2 and 3 */
    CHECK(iio_deadline_set_for(c[2].h, 1) == 0, "set_for 2");
    CHECK(iio_deadline_set_for(c[3].h, iio_now_ns()) == 0, "set_for 3");
    CHECK(callers_wait(c + 2, 2, now_s(), 2.0) == 2, "thread deadline did not reach fd callers");
    CHECK(c[2].result == -ETIMEDOUT && c[3].result == -ETIMEDOUT, "thread deadline results %ld %ld", c[2].result, c[3].result);
    /* group: 4..7 */
    CHECK(iio_group_cancel(g) == 4, "group cancel count");
    CHECK(callers_wait(c + 4, 4, now_s(), 2.0) == 4, "group members still blocked");
    for (int i = 4; i < 8; i++)
        CHECK(c[i].result == -ECANCELED, "group member %d = %ld", i, c[i].result);
    sleep_us(50000);
    CHECK(count_done(c + 8, 4) == 0, "a cancel/group/thread deadline reached a caller it did not name");
    /* A far-future thread deadline on 8 (cannot fire here), then the
     * descriptor's passed deadline reaches all the rest. */
    iio_deadline_set_for(c[8].h, iio_now_ns() + 3600ull * 1000000000ull);
    CHECK(iio_fd_set_deadline(fd, IIO_FD_READ, 1) == 0, "fd deadline");
    CHECK(callers_wait(c + 8, 4, now_s(), 2.0) == 4, "fd deadline: %d/4", count_done(c + 8, 4));
    for (int i = 8; i < 12; i++)
        CHECK(c[i].result == -ETIMEDOUT, "caller %d = %ld", i, c[i].result);
    /* Nothing lost: clear and read a byte. */
    iio_fd_set_deadline(fd, IIO_FD_READ, IIO_NEVER);
    CHECK(write(p[1], "z", 1) == 1, "w");
    char b = 0;
    CHECK(iio_fd_read(fd, &b, 1) == 1 && b == 'z', "byte");
}

/* 7. A passed thread deadline / call deadline fails an fd call at once even
 *    with data ready, and the data stays. */
static void c_thread_and_call_deadline_apply_to_fd_calls(void) {
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    iio_fd_t *fd = wrap(p[0]);
    CHECK(write(p[1], "xy", 2) == 2, "w");
    char b = 0;
    iio_deadline_set(1);
    long r = iio_fd_read(fd, &b, 1);
    iio_deadline_set(IIO_NEVER);
    CHECK(r == -ETIMEDOUT, "thread deadline passed: fd read = %ld", r);
    uint64_t prev;
    iio_call_deadline_swap(1, &prev);
    r = iio_fd_read(fd, &b, 1);
    iio_call_deadline_restore(prev);
    CHECK(r == -ETIMEDOUT, "call deadline passed: fd read = %ld", r);
    iio_thread_t me;
    iio_self(&me);
    iio_cancel_sticky(me);
    r = iio_fd_read(fd, &b, 1);
    iio_clear_cancel(me);
    CHECK(r == -ECANCELED, "sticky cancel: fd read = %ld", r);
    CHECK(iio_fd_read(fd, &b, 1) == 1 && b == 'x', "data lost: %c", b);
    CHECK(iio_fd_read(fd, &b, 1) == 1 && b == 'y', "data lost: %c", b);
}

/* 8. A thread's own deadline source must survive its fd calls: a thread
 *    with its own source makes an fd call, then a plain blocking read; the
 *    owner moves its word into the past and tells the thread. */
static uint64_t own_word;
static void *own_source_thread(void *p) {
    caller_t *c = p;
    iio_self(&c->h);
    iio_deadline_word_store(&own_word, IIO_NEVER);
    iio_deadline_source(&own_word);
    char b;
    long r = iio_fd_read(c->fd, &b, 1); /* data ready */
    if (r != 1) {
        c->result = -20000 + r;
        atomic_store(&c->done, 1);
        return NULL;
    }
    atomic_store(&c->started, 1);
    c->result = iio_read(c->plain, c->buf, 1);
    atomic_store(&c->done, 1);
    return NULL;
}
static void c_own_source_survives_fd_call(void) {
    int p[2], q[2];
    CHECK(pipe(p) == 0 && pipe(q) == 0, "pipe");
    iio_fd_t *fd = wrap(p[0]);
    CHECK(write(p[1], "a", 1) == 1, "w");
    caller_t *c = callers_alloc(1);
    c->fd = fd;
    c->plain = q[0];
    pthread_create(&c->th, NULL, own_source_thread, c);
    double t0 = now_s();
    while (!atomic_load(&c->started) && !atomic_load(&c->done) && now_s() - t0 < 2)
        sleep_us(500);
    CHECK(!atomic_load(&c->done), "fd read failed: %ld", c->result);
    sleep_us(40000);
    CHECK(!atomic_load(&c->done), "plain read returned early: %ld", c->result);
    iio_deadline_word_store(&own_word, 1);
    int asked = iio_deadline_source_changed(&own_word);
    double t = now_s();
    int d = callers_wait(c, 1, t, 2.0);
    CHECK(d == 1, "the thread's own source no longer reaches its plain read after an fd call (source_changed asked %d threads)", asked);
    CHECK(c->result == -ETIMEDOUT, "plain read = %ld", c->result);
}

/* 9. A thread that made an fd call on A, then blocks in a plain read on
 *    another pipe, must not be ended by A's read deadline. */
static void c_fd_deadline_does_not_leak_into_later_plain_call(void) {
    int p[2], q[2];
    CHECK(pipe(p) == 0 && pipe(q) == 0, "pipe");
    iio_fd_t *fd = wrap(p[0]);
    CHECK(write(p[1], "a", 1) == 1, "w");
    caller_t *c = callers_alloc(1);
    c->fd = fd;
    c->plain = q[0];
    /* thread: fd read (data), then plain read on q[0] */
    c->op = OP_READ;
    c->len = 1;
    struct {
        caller_t *c;
    } arg = {c};
    (void)arg;
    pthread_create(&c->th, NULL, own_source_thread, c); /* own source NEVER: harmless */
    double t0 = now_s();
    while (!atomic_load(&c->started) && now_s() - t0 < 2)
        sleep_us(500);
    /* Another reader on A, so the setter does its pass. */
    caller_t *other = callers_alloc(1);
    int ops[] = {OP_READ};
    callers_start(other, 1, fd, ops, 1, 1);
    CHECK(iio_fd_set_deadline(fd, IIO_FD_READ, 1) == 0, "set");
    CHECK(callers_wait(other, 1, now_s(), 2.0) == 1 && other->result == -ETIMEDOUT, "reader on A: %ld", other->result);
    sleep_us(100000);
    CHECK(!atomic_load(&c->done), "A's deadline ended a later plain read on another pipe: %ld", c->result);
    CHECK(write(q[1], "b", 1) == 1, "w");
    CHECK(callers_wait(c, 1, now_s(), 2.0) == 1 && c->result == 1, "plain read = %ld", c->result);
}

/* 9b. Same, without any own source, and the plain read's thread-side
 *     deadline is also irrelevant; A is then closed and freed while the
 *     thread sits in its plain read; a burst of calloc'd blocks takes A's
 *     memory; the plain read must still get its byte (not -ETIMEDOUT from
 *     a zeroed stale source word), and ASan must not see a use after free. */
static void *fd_then_plain(void *p) {
    caller_t *c = p;
    iio_self(&c->h);
    char b;
    long r = iio_fd_read(c->fd, &b, 1);
    if (r != 1) {
        c->result = -20000 + r;
        atomic_store(&c->done, 1);
        return NULL;
    }
    atomic_store(&c->started, 1);
    /* wait until A is freed, then read: the call start reads the source */
    while (atomic_load(&c->started) != 2)
        sched_yield();
    c->result = iio_read(c->plain, c->buf, 1);
    atomic_store(&c->done, 1);
    return NULL;
}
static void c_freed_fd_not_used_as_source_afterwards(void) {
    int p[2], q[2];
    CHECK(pipe(p) == 0 && pipe(q) == 0, "pipe");
    iio_fd_t *fd = wrap(p[0]);
    CHECK(write(p[1], "a", 1) == 1 && write(q[1], "b", 1) == 1, "w");
    caller_t *c = callers_alloc(1);
    c->fd = fd;
    c->plain = q[0];
    pthread_create(&c->th, NULL, fd_then_plain, c);
    double t0 = now_s();
    while (atomic_load(&c->started) != 1 && !atomic_load(&c->done) && now_s() - t0 < 2)
        sleep_us(500);
    CHECK(!atomic_load(&c->done), "fd read: %ld", c->result);
    CHECK(iio_fd_close(fd) == 0, "close");
    iio_fd_free(fd);
    void *blocks[4096];
    for (int i = 0; i < 4096; i++)
        blocks[i] = calloc(1, (size_t)(8 + (i % 64) * 8));
    atomic_store(&c->started, 2);
    CHECK(callers_wait(c, 1, now_s(), 2.0) == 1, "plain read hung");
    CHECK(c->result == 1, "plain read after the fd it last used was freed = %ld", c->result);
    for (int i = 0; i < 4096; i++)
        free(blocks[i]);
}

/* 10. An application handler on a thread blocked in A makes an fd call on B
 *     (data ready). After it, A's deadline and close must still reach the
 *     outer call. */
static iio_fd_t *_Atomic h_fd;
static _Atomic long h_result = -7777;
static _Atomic int h_mode;
static void nested_handler(int sig) {
    (void)sig;
    char b;
    switch (atomic_load(&h_mode)) {
    case 0: atomic_store(&h_result, iio_fd_read(atomic_load(&h_fd), &b, 1)); break;
    case 1: atomic_store(&h_result, (long)iio_fd_set_deadline(atomic_load(&h_fd), IIO_FD_READ, 1)); break;
    case 2: atomic_store(&h_result, (long)iio_fd_close(atomic_load(&h_fd))); break;
    case 3: {
        uint64_t end = now_ns() + 150000000ull;
        while (now_ns() < end)
            ;
        atomic_store(&h_result, 1);
        break;
    }
    }
}
static void nested_case(int mode, int close_outer) {
    struct sigaction sa = {0};
    sa.sa_handler = nested_handler;
    sigaction(SIGUSR1, &sa, NULL);
    int p[2], q[2];
    CHECK(pipe(p) == 0 && pipe(q) == 0, "pipe");
    iio_fd_t *a = wrap(p[0]), *b = wrap(q[0]);
    CHECK(write(q[1], "n", 1) == 1, "w");
    caller_t *c = callers_alloc(1);
    int ops[] = {OP_READ};
    callers_start(c, 1, a, ops, 1, 1);
    caller_t *o = callers_alloc(2);
    if (mode == 2)
        callers_start(o, 2, b, ops, 1, 1); /* others blocked on B: but B has a byte */
    atomic_store(&h_fd, mode == 1 ? a : b);
    atomic_store(&h_mode, mode);
    pthread_kill(c->th, SIGUSR1);
    if (mode == 3) {
        sleep_us(20000);
        double t = now_s();
        CHECK(iio_fd_close(a) == 0, "close during a long application handler");
        double took = now_s() - t;
        CHECK(took < 2.0, "close took %.2f", took);
        CHECK(callers_wait(c, 1, t, 2.0) == 1 && c->result == -EBADF, "outer = %ld", c->result);
        CHECK(atomic_load(&h_result) == 1, "handler did not run through");
        return;
    }
    double t0 = now_s();
    while (atomic_load(&h_result) == -7777 && now_s() - t0 < 2)
        sleep_us(500);
    long hr = atomic_load(&h_result);
    if (mode == 0)
        CHECK(hr == 1, "nested fd read on B in the handler = %ld", hr);
    if (mode == 1) {
        CHECK(hr == 0 || hr == 1, "set_deadline from handler = %ld", hr);
        CHECK(callers_wait(c, 1, now_s(), 2.0) == 1, "own-handler deadline on A never ended the outer read");
        CHECK(c->result == -ETIMEDOUT, "outer = %ld", c->result);
        return;
    }
    if (mode == 2) {
        CHECK(hr == 0, "close of B from a handler on a thread in A = %ld", hr);
    }
    sleep_us(30000);
    CHECK(!atomic_load(&c->done), "outer read ended by the handler: %ld", c->result);
    double t = now_s();
    if (close_outer) {
        CHECK(iio_fd_close(a) == 0, "close A");
        CHECK(now_s() - t < 2.0, "close A took %.2f s", now_s() - t);
        CHECK(callers_wait(c, 1, t, 2.0) == 1, "outer read not ended by close after a nested fd call");
        CHECK(c->result == -EBADF, "outer = %ld", c->result);
    } else {
        CHECK(iio_fd_set_deadline(a, IIO_FD_READ, 1) == 0, "set A");
        CHECK(callers_wait(c, 1, t, 2.0) == 1, "outer read on A not reached by A's deadline after the handler's fd call on B");
        CHECK(c->result == -ETIMEDOUT, "outer = %ld", c->result);
    }
}
static void c_nested_fd_call_then_deadline(void) { nested_case(0, 0); }
static void c_nested_fd_call_then_close(void) { nested_case(0, 1); }
static void c_handler_sets_own_fd_deadline(void) { nested_case(1, 0); }
static void c_handler_closes_other_fd(void) { nested_case(2, 0); }
static void c_close_waits_for_long_app_handler(void) { nested_case(3, 0); }

/* 11. Close from a signal handler at random moments of a thread that loops
 *     on fd calls (data always ready): 0 or -EDEADLK, never a hang; after
 *     -EDEADLK the descriptor works, after 0 the loop ends with EBADF. */
static iio_fd_t *_Atomic rh_fd;
static _Atomic long rh_result;
static _Atomic int rh_count;
static void random_close_handler(int sig) {
    (void)sig;
    long r = iio_fd_close(atomic_load(&rh_fd));
    atomic_store(&rh_result, r);
    atomic_fetch_add(&rh_count, 1);
}
typedef struct {
    iio_fd_t *fd;
    int kind;
    _Atomic int started;
    long last, n;
    pthread_t th;
} loop_t;
static void *fd_loop(void *p) {
    loop_t *l = p;
    char buf[64];
    atomic_store(&l->started, 1);
    for (;;) {
        long r;
        if (l->kind == 0)
            r = iio_fd_read(l->fd, buf, sizeof buf);
        else if (l->kind == 1) {
            struct iovec v = {buf, sizeof buf};
            r = iio_fd_readv(l->fd, &v, 1);
        } else {
            iio_fd_call_t call;
            int n = iio_fd_begin(l->fd, IIO_FD_READ, &call);
            r = n < 0 ? n : iio_fd_end(l->fd, &call, iio_read(n, buf, sizeof buf));
        }
        l->n++;
        /* a short stretch outside any call, so a close can get in */
        for (volatile int k = 0; k < 2000; k++)
            ;
        if (r <= 0) {
            l->last = r;
            return NULL;
        }
    }
}
static void c_close_from_handler_random_timing(void) {
    struct sigaction sa = {0};
    sa.sa_handler = random_close_handler;
    sigaction(SIGUSR2, &sa, NULL);
    unsigned seed = (unsigned)getpid();
    int deadlk = 0, zero = 0;
    for (int round = 0; round < 300; round++) {
        int z = open("/dev/zero", O_RDONLY | O_CLOEXEC);
        iio_fd_t *fd = wrap(z);
        atomic_store(&rh_fd, fd);
        atomic_store(&rh_count, 0);
        loop_t l = {.fd = fd, .kind = round % 3};
        pthread_create(&l.th, NULL, fd_loop, &l);
        while (!atomic_load(&l.started))
            sched_yield();
        for (int tries = 0;; tries++) {
            sleep_us(rand_r(&seed) % 300);
            int before = atomic_load(&rh_count);
            if (pthread_kill(l.th, SIGUSR2) != 0)
                break; /* loop ended */
            double t = now_s();
            while (atomic_load(&rh_count) == before && now_s() - t < 2.0)
                sleep_us(50);
            CHECK(atomic_load(&rh_count) != before, "round %d: the handler's close never returned (hang)", round);
            long r = atomic_load(&rh_result);
            CHECK(r == 0 || r == -EDEADLK, "round %d: close from handler = %ld", round, r);
            if (r == 0) {
                zero++;
                break;
            }
            deadlk++;
            CHECK(!iio_fd_closed(fd), "round %d: -EDEADLK but closed", round);
            CHECK(tries < 100000, "never got a close in");
        }
        double t = now_s();
        while (now_s() - t < 2.0 && pthread_tryjoin_np(l.th, NULL) != 0)
            sleep_us(200);
        CHECK(now_s() - t < 2.0, "round %d: loop did not end after close", round);
        CHECK(l.last == -EBADF, "round %d: loop ended with %ld", round, l.last);
        CHECK(!is_open(z) || fcntl(z, F_GETFD) >= 0, "x");
        iio_fd_free(fd);
    }
    printf("  (close from handler: %d closed, %d EDEADLK)\n", zero, deadlk);
}

/* 12. Close ends every caller of both directions, many kinds, within 2 s;
 *     the number is closed when close returns; every result is -EBADF (or
 *     a writer's count). */
static void close_many(int n_readers, int n_writers) {
    int s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0, "socketpair");
    fill_send_buffer(s[0]);
    iio_fd_t *fd = wrap(s[0]);
    caller_t *r = callers_alloc(n_readers), *w = callers_alloc(n_writers);
    int rops[] = {OP_READ, OP_READV, OP_RECV, OP_RECVMSG, OP_POLL_IN};
    int wops[] = {OP_WRITE, OP_WRITEV, OP_SEND, OP_SENDMSG, OP_POLL_OUT};
    callers_start(r, n_readers, fd, rops, 5, 64);
    callers_start(w, n_writers, fd, wops, 5, 1024);
    sleep_us(n_readers > 100 ? 300000 : 0);
    CHECK(count_done(r, n_readers) == 0 && count_done(w, n_writers) == 0, "callers did not block");
    double t = now_s();
    int cr = iio_fd_close(fd);
    double took = now_s() - t;
    CHECK(cr == 0, "close = %d", cr);
    CHECK(took < 2.0, "close took %.2f s", took);
    errno = 0;
    CHECK(fcntl(s[0], F_GETFD) == -1 && errno == EBADF, "number still open when close returned");
    CHECK(callers_wait(r, n_readers, t, 3.0) == n_readers, "readers %d/%d", count_done(r, n_readers), n_readers);
    CHECK(callers_wait(w, n_writers, t, 3.0) == n_writers, "writers %d/%d", count_done(w, n_writers), n_writers);
    for (int i = 0; i < n_readers; i++)
        CHECK(r[i].result == -EBADF, "reader %d (%s) = %ld", i, op_name[r[i].op], r[i].result);
    for (int i = 0; i < n_writers; i++)
        CHECK(w[i].result == -EBADF || w[i].result > 0, "writer %d (%s) = %ld", i, op_name[w[i].op], w[i].result);
    /* Every finished caller finished before close returned? It must have
     * left the descriptor: its done_at can trail only by a few lines. */
}
static void c_close_ends_40_mixed_callers(void) { close_many(32, 8); }
static void c_close_ends_1000_callers(void) { close_many(900, 100); }

/* 13. 1000 readers on a pipe and a passed deadline. */
static void c_passed_deadline_reaches_1000_readers(void) {
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    iio_fd_t *fd = wrap(p[0]);
    caller_t *c = callers_alloc(1000);
    int ops[] = {OP_READ, OP_READV, OP_POLL_IN};
    callers_start(c, 1000, fd, ops, 3, 4);
    sleep_us(300000);
    CHECK(count_done(c, 1000) == 0, "did not block");
    double t = now_s();
    CHECK(iio_fd_set_deadline(fd, IIO_FD_READ, 1) == 0, "set");
    int d = callers_wait(c, 1000, t, 4.0);
    CHECK(d == 1000, "%d/1000 readers ended within 4 s", d);
    for (int i = 0; i < 1000; i++)
        CHECK(c[i].result == -ETIMEDOUT, "reader %d = %ld", i, c[i].result);
}

/* 14. 8 threads close at once with callers blocked: one 0, the rest -EBADF;
 *     the number is closed when the 0 returns. */
typedef struct {
    iio_fd_t *fd;
    int r;
    _Atomic int *go;
    pthread_t th;
    uint64_t at;
} closer_t;
static void *closer_main(void *p) {
    closer_t *c = p;
    while (!atomic_load(c->go))
        sched_yield();
    c->r = iio_fd_close(c->fd);
    c->at = now_ns();
    return NULL;
}
static void c_concurrent_closes(void) {
    for (int round = 0; round < 50; round++) {
        int s[2];
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0, "sp");
        iio_fd_t *fd = wrap(s[0]);
        caller_t *c = callers_alloc(4);
        int ops[] = {OP_READ, OP_RECV};
        callers_start(c, 4, fd, ops, 2, 8);
        _Atomic int go = 0;
        closer_t cl[8];
        for (int i = 0; i < 8; i++) {
            cl[i].fd = fd;
            cl[i].go = &go;
            pthread_create(&cl[i].th, NULL, closer_main, &cl[i]);
        }
        atomic_store(&go, 1);
        int zeros = 0;
        for (int i = 0; i < 8; i++) {
            pthread_join(cl[i].th, NULL);
            if (cl[i].r == 0)
                zeros++;
            else
                CHECK(cl[i].r == -EBADF, "round %d closer %d = %d", round, i, cl[i].r);
        }
        CHECK(zeros == 1, "round %d: %d closes returned 0", round, zeros);
        CHECK(!is_open(s[0]), "number open after all closes");
        CHECK(callers_wait(c, 4, now_s(), 2.0) == 4, "callers");
        for (int i = 0; i < 4; i++)
            CHECK(c[i].result == -EBADF, "caller %d = %ld", i, c[i].result);
        iio_fd_free(fd);
        close(s[1]);
        free(c);
    }
}

/* 15. After close, every entry point fails with -EBADF and never touches a
 *     socket dup2'd onto the number. */
static void c_every_call_after_close_ebadf_no_touch(void) {
    int s[2], t[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, t) == 0, "sp");
    int l = listener(NULL, 4);
    iio_fd_t *fd = wrap(s[0]);
    int num = s[0];
    CHECK(iio_fd_close(fd) == 0, "close");
    close(s[1]);
    /* The number now names t[0]; its peer t[1] queued data for it. */
    CHECK(dup2(t[0], num) == num, "dup2");
    CHECK(write(t[1], "PEER", 4) == 4, "w");
    char buf[16];
    struct iovec v = {buf, sizeof buf};
    struct msghdr mh = {.msg_iov = &v, .msg_iovlen = 1};
    iio_fd_call_t call;
    long rs[16];
    int k = 0;
    rs[k++] = iio_fd_read(fd, buf, sizeof buf);
    rs[k++] = iio_fd_readv(fd, &v, 1);
    rs[k++] = iio_fd_recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    rs[k++] = iio_fd_recvmsg(fd, &mh, 0);
    rs[k++] = iio_fd_accept4(fd, NULL, NULL, 0);
    rs[k++] = iio_fd_write(fd, "XX", 2);
    rs[k++] = iio_fd_writev(fd, &v, 1);
    rs[k++] = iio_fd_send(fd, "XX", 2, 0);
    rs[k++] = iio_fd_sendmsg(fd, &mh, 0);
    rs[k++] = iio_fd_shutdown(fd, SHUT_RDWR);
    rs[k++] = iio_fd_begin(fd, IIO_FD_READ, &call);
    rs[k++] = iio_fd_begin(fd, IIO_FD_WRITE, &call);
    rs[k++] = iio_fd_set_deadline(fd, IIO_FD_READ, 1);
    rs[k++] = iio_fd_number(fd);
    rs[k++] = iio_fd_close(fd);
    for (int i = 0; i < k; i++)
        CHECK(rs[i] == -EBADF, "entry point %d after close = %ld", i, rs[i]);
    CHECK(iio_fd_closed(fd) == 1, "closed");
    CHECK(iio_fd_deadline(fd, IIO_FD_READ) == 0, "deadline after close = %llu", (unsigned long long)iio_fd_deadline(fd, IIO_FD_READ));
    iio_fd_free(fd);
    /* The number: still open, data intact, peer got nothing, not shut down. */
    CHECK(is_open(num), "iio_fd_free closed a number it no longer owns");
    CHECK(recv(num, buf, sizeof buf, MSG_DONTWAIT) == 4 && memcmp(buf, "PEER", 4) == 0, "data at the reused number was consumed");
    CHECK(recv(t[1], buf, sizeof buf, MSG_DONTWAIT) == -1 && errno == EAGAIN, "the peer of the reused number received data");
    CHECK(send(num, "ok", 2, MSG_NOSIGNAL) == 2, "reused number was shut down");
    CHECK(recv(t[1], buf, sizeof buf, MSG_DONTWAIT) == 2, "peer");
    close(l);
}

/* 16. Exactly one close: free without close closes; free after close does
 *     not close a reused number; a second wrapper object on a reused number
 *     is independent. 2000 rounds. */
static void c_exactly_one_close_with_free(void) {
    for (int round = 0; round < 2000; round++) {
        int p[2];
        CHECK(pipe(p) == 0, "pipe");
        iio_fd_t *a = wrap(p[0]);
        if (round & 1) {
            iio_fd_free(a); /* closes */
            CHECK(!is_open(p[0]) || 0, "round %d: free did not close", round);
            close(p[1]);
            continue;
        }
        CHECK(iio_fd_close(a) == 0, "close");
        int q = open("/dev/null", O_RDONLY | O_CLOEXEC);
        CHECK(q == p[0], "round %d: number not reused (%d vs %d)", round, q, p[0]);
        iio_fd_t *b = wrap(q);
        iio_fd_free(a);
        CHECK(is_open(q), "round %d: freeing the closed object closed the reused number", round);
        CHECK(iio_fd_number(b) == q, "b");
        iio_fd_free(b);
        CHECK(!is_open(q), "b's free did not close");
        close(p[1]);
    }
}

/* 17. Data never lost on the write side: a writer streams numbered bytes in
 *     64 KiB writes; a setter flips the write deadline between passed and
 *     never; the peer drains slowly. The sum of the writer's counts must be
 *     exactly what the peer reads, in order. Finally close while blocked. */
typedef struct {
    iio_fd_t *fd;
    _Atomic int stop;
    _Atomic long sent;
    long last;
    long timeouts;
    pthread_t th;
} streamer_t;
static void *streamer(void *p) {
    streamer_t *s = p;
    static unsigned char buf[65536];
    long off = 0;
    for (;;) {
        for (int i = 0; i < 65536; i++)
            buf[i] = (unsigned char)((off + i) * 7 + 3);
        long r;
        switch (off % 3) {
        case 0: r = iio_fd_write(s->fd, buf, sizeof buf); break;
        case 1: r = iio_fd_send(s->fd, buf, sizeof buf, MSG_NOSIGNAL); break;
        default: {
            struct iovec v[2] = {{buf, 1000}, {buf + 1000, sizeof buf - 1000}};
            r = iio_fd_writev(s->fd, v, 2);
        }
        }
        if (r > 0) {
            off += r;
            atomic_store(&s->sent, off);
            continue;
        }
        if (r == -ETIMEDOUT) {
            s->timeouts++;
            sched_yield();
            continue;
        }
        s->last = r;
        return NULL;
    }
}
typedef struct {
    int fd;
    long got, bad;
    pthread_t th;
} drainer_t;
static void *drainer(void *p) {
    drainer_t *d = p;
    unsigned char buf[3000];
    for (;;) {
        ssize_t n = read(d->fd, buf, sizeof buf);
        if (n <= 0)
            return NULL;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != (unsigned char)((d->got + i) * 7 + 3))
                d->bad++;
        d->got += n;
        if ((d->got / 3000) % 4 == 0)
            sleep_us(100);
    }
}
static void c_write_deadline_flips_no_byte_lost(void) {
    int s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0, "sp");
    int small = 8192;
    setsockopt(s[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    iio_fd_t *fd = wrap(s[0]);
    streamer_t st = {.fd = fd};
    drainer_t dr = {.fd = s[1]};
    pthread_create(&st.th, NULL, streamer, &st);
    pthread_create(&dr.th, NULL, drainer, &dr);
    unsigned seed = 5;
    for (int i = 0; i < 400; i++) {
        sleep_us(rand_r(&seed) % 2000);
        iio_fd_set_deadline(fd, IIO_FD_WRITE, 1);
        sleep_us(rand_r(&seed) % 300);
        iio_fd_set_deadline(fd, IIO_FD_WRITE, IIO_NEVER);
    }
    sleep_us(rand_r(&seed) % 2000);
    CHECK(iio_fd_close(fd) == 0, "close");
    pthread_join(st.th, NULL);
    pthread_join(dr.th, NULL);
    CHECK(st.last == -EBADF, "streamer ended with %ld", st.last);
    CHECK(dr.bad == 0, "%ld bytes out of order / corrupt", dr.bad);
    CHECK(dr.got == atomic_load(&st.sent), "peer read %ld bytes, writer's counts say %ld (timeouts %ld)", dr.got, atomic_load(&st.sent), st.timeouts);
    printf("  (streamed %ld bytes, %ld timeouts)\n", dr.got, st.timeouts);
}

/* 18. recv MSG_WAITALL with a partial fill, then a passed deadline / close:
 *     the partial count is the result and the bytes are in the buffer. */
static void waitall_case(int use_close) {
    int s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0, "sp");
    iio_fd_t *fd = wrap(s[0]);
    caller_t *c = callers_alloc(1);
    int ops[] = {OP_RECV_WAITALL};
    callers_start(c, 1, fd, ops, 1, 4096);
    CHECK(write(s[1], "0123456789", 10) == 10, "w");
    sleep_us(50000);
    CHECK(!atomic_load(&c->done), "waitall returned early: %ld", c->result);
    double t = now_s();
    if (use_close)
        CHECK(iio_fd_close(fd) == 0, "close");
    else
        CHECK(iio_fd_set_deadline(fd, IIO_FD_READ, 1) == 0, "set");
    CHECK(callers_wait(c, 1, t, 2.0) == 1, "waitall not ended");
    CHECK(c->result == 10, "partial MSG_WAITALL receive: result %ld, expected the count 10", c->result);
    CHECK(memcmp(c->buf, "0123456789", 10) == 0, "bytes");
}
static void c_waitall_partial_then_deadline(void) { waitall_case(0); }
static void c_waitall_partial_then_close(void) { waitall_case(1); }

/* 19. Accepted descriptors are never lost: clients connect in a loop while
 *     4 acceptors accept and close; the listener is closed at a random
 *     moment. Afterwards no descriptor is left open beyond the baseline. */
static _Atomic int conn_stop;
static struct sockaddr_in acc_addr;
static void *connector(void *p) {
    (void)p;
    while (!atomic_load(&conn_stop)) {
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (connect(c, (void *)&acc_addr, sizeof acc_addr) != 0) {
            close(c);
            sched_yield();
            continue;
        }
        close(c);
    }
    return NULL;
}
static void *acceptor_loop(void *p) {
    iio_fd_t *fd = p;
    for (;;) {
        int a = iio_fd_accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (a < 0) {
            if (a == -ECONNABORTED)
                continue;
            return (void *)(long)a;
        }
        close(a);
    }
}
static void c_accept_race_close_no_fd_leak(void) {
    unsigned seed = 11;
    int base = count_open_fds();
    for (int round = 0; round < 100; round++) {
        int l = listener(&acc_addr, 128);
        iio_fd_t *fd = wrap(l);
        atomic_store(&conn_stop, 0);
        pthread_t con[2], acc[4];
        for (int i = 0; i < 2; i++)
            pthread_create(&con[i], NULL, connector, NULL);
        for (int i = 0; i < 4; i++)
            pthread_create(&acc[i], NULL, acceptor_loop, fd);
        sleep_us(rand_r(&seed) % 5000);
        CHECK(iio_fd_close(fd) == 0, "close");
        for (int i = 0; i < 4; i++) {
            void *r;
            pthread_join(acc[i], &r);
            CHECK((long)r == -EBADF, "acceptor ended with %ld", (long)r);
        }
        atomic_store(&conn_stop, 1);
        for (int i = 0; i < 2; i++)
            pthread_join(con[i], NULL);
        iio_fd_free(fd);
        int now = count_open_fds();
        CHECK(now == base, "round %d: %d descriptors open, baseline %d (an accepted connection was lost)", round, now, base);
    }
}

/* 20. fork with callers blocked: the child sets a passed deadline, reads
 *     (ETIMEDOUT), closes (at once); the parent's callers stay blocked and
 *     then each gets its byte. */
static void c_fork_child_deadline_and_close(void) {
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    iio_fd_t *fd = wrap(p[0]);
    caller_t *c = callers_alloc(4);
    int ops[] = {OP_READ, OP_READV, OP_POLL_IN, OP_READ};
    callers_start(c, 4, fd, ops, 4, 1);
    pid_t ch = fork();
    if (ch == 0) {
        alarm(5);
        double t = now_s();
        if (iio_fd_set_deadline(fd, IIO_FD_READ, 1) != 0)
            _exit(2);
        char b;
        if (iio_fd_read(fd, &b, 1) != -ETIMEDOUT)
            _exit(3);
        if (iio_fd_set_deadline(fd, IIO_FD_READ, IIO_NEVER) != 0)
            _exit(4);
        if (iio_fd_close(fd) != 0)
            _exit(5);
        if (iio_fd_read(fd, &b, 1) != -EBADF)
            _exit(6);
        _exit(now_s() - t < 2.0 ? 0 : 7);
    }
    int st;
    CHECK(waitpid(ch, &st, 0) == ch, "wait");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d/%d", WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    sleep_us(20000);
    CHECK(count_done(c, 4) == 0, "the child's deadline/close ended a parent caller (%d)", count_done(c, 4));
    CHECK(iio_fd_deadline(fd, IIO_FD_READ) == IIO_NEVER, "child's deadline seen in parent");
    CHECK(write(p[1], "abcd", 4) == 4, "w");
    CHECK(callers_wait(c, 4, now_s(), 2.0) == 4, "parent callers after writes");
    for (int i = 0; i < 4; i++)
        CHECK(c[i].result == 1 || (c[i].op == OP_POLL_IN && c[i].result == 1), "caller %d = %ld", i, c[i].result);
    CHECK(iio_fd_close(fd) == 0, "parent close");
}

/* 21. Threads come and go (each one fd read then exit) while a setter flips
 *     the read deadline; long-lived threads sit in plain reads on another
 *     pipe and must never be ended; bytes are accounted for. */
static _Atomic long short_got, short_timeouts, short_other;
static void *short_thread(void *p) {
    iio_fd_t *fd = p;
    char b;
    long r = iio_fd_read(fd, &b, 1);
    if (r == 1)
        atomic_fetch_add(&short_got, 1);
    else if (r == -ETIMEDOUT)
        atomic_fetch_add(&short_timeouts, 1);
    else
        atomic_fetch_add(&short_other, 1);
    return NULL;
}
static _Atomic int churn_stop;
static void *flipper(void *p) {
    iio_fd_t *fd = p;
    unsigned seed = 3;
    while (!atomic_load(&churn_stop)) {
        iio_fd_set_deadline(fd, IIO_FD_READ, rand_r(&seed) & 1 ? 1 : IIO_NEVER);
        sleep_us(rand_r(&seed) % 200);
    }
    iio_fd_set_deadline(fd, IIO_FD_READ, IIO_NEVER);
    return NULL;
}
static void c_thread_churn_while_deadlines_change(void) {
    int p[2], q[2];
    CHECK(pipe(p) == 0 && pipe(q) == 0, "pipe");
    iio_fd_t *fd = wrap(p[0]);
    caller_t *plain = callers_alloc(4);
    for (int i = 0; i < 4; i++)
        plain[i].plain = q[0];
    int ops[] = {OP_PLAIN_READ};
    callers_start(plain, 4, NULL, ops, 1, 1);
    pthread_t fl;
    pthread_create(&fl, NULL, flipper, fd);
    long written = 0;
    for (int i = 0; i < 3000; i++) {
        pthread_t th;
        if (pthread_create(&th, &small_stack, short_thread, fd) == 0)
            pthread_detach(th);
        else
            sleep_us(1000);
        if (i % 2 == 0 && write(p[1], "x", 1) == 1)
            written++;
        if (i % 50 == 0)
            sleep_us(500);
    }
    atomic_store(&churn_stop, 1);
    pthread_join(fl, NULL);
    /* Let the last short threads finish: feed them. */
    double t = now_s();
    while (atomic_load(&short_got) + atomic_load(&short_timeouts) + atomic_load(&short_other) < 3000 && now_s() - t < 5) {
        if (write(p[1], "y", 1) == 1)
            written++;
        sleep_us(200);
    }
    long total = atomic_load(&short_got) + atomic_load(&short_timeouts) + atomic_load(&short_other);
    CHECK(total == 3000, "%ld/3000 short threads finished", total);
    CHECK(atomic_load(&short_other) == 0, "%ld short reads ended with neither a byte nor ETIMEDOUT", atomic_load(&short_other));
    /* remaining bytes in p */
    int fl2 = fcntl(p[0], F_GETFL);
    fcntl(p[0], F_SETFL, fl2 | O_NONBLOCK);
    char buf[8192];
    long left = 0, n;
    while ((n = read(p[0], buf, sizeof buf)) > 0)
        left += n;
    CHECK(atomic_load(&short_got) + left == written, "bytes: read %ld + left %ld != written %ld", atomic_load(&short_got), left, written);
    CHECK(count_done(plain, 4) == 0, "a plain read on another pipe was ended (%ld)", plain[0].result);
    CHECK(write(q[1], "abcd", 4) == 4, "w");
    CHECK(callers_wait(plain, 4, now_s(), 2.0) == 4, "plain readers");
    for (int i = 0; i < 4; i++)
        CHECK(plain[i].result == 1, "plain %d = %ld", i, plain[i].result);
}

/* 22. Deadline values at the edges are stored and honoured. */
static void c_deadline_edge_values(void) {
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    iio_fd_t *fd = wrap(p[0]);
    uint64_t vals[] = {IIO_NEVER - 1, 1ull << 63, (1ull << 63) - 1, 1ull << 62, (1ull << 32), 0xfffffffffffffffeull, 0x8000000000000001ull};
    for (unsigned i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        int r = iio_fd_set_deadline(fd, IIO_FD_READ, vals[i]);
        CHECK(r == 0 || r == 1, "set %llx = %d", (unsigned long long)vals[i], r);
        uint64_t got = iio_fd_deadline(fd, IIO_FD_READ);
        CHECK(got == vals[i] || vals[i] <= iio_now_ns(), "deadline %llx read back as %llx", (unsigned long long)vals[i], (unsigned long long)got);
        CHECK(write(p[1], "v", 1) == 1, "w");
        char b = 0;
        long rr = iio_fd_read(fd, &b, 1);
        if (vals[i] > iio_now_ns())
            CHECK(rr == 1, "future deadline %llx: read = %ld", (unsigned long long)vals[i], rr);
        else
            CHECK(rr == -ETIMEDOUT, "past deadline %llx: read = %ld", (unsigned long long)vals[i], rr);
        CHECK(!iio_fd_closed(fd), "value %llx made the object closed", (unsigned long long)vals[i]);
        if (rr != 1) {
            iio_fd_set_deadline(fd, IIO_FD_READ, IIO_NEVER);
            CHECK(iio_fd_read(fd, &b, 1) == 1, "byte");
        }
    }
    /* Write side too; and a 0 on the write side. */
    CHECK(iio_fd_set_deadline(fd, IIO_FD_WRITE, 0) == 0, "w0");
    CHECK(iio_fd_deadline(fd, IIO_FD_WRITE) != 0, "0 read back as 0 (the 'closed' value)");
    CHECK(!iio_fd_closed(fd), "closed");
    CHECK(iio_fd_close(fd) == 0, "close after edge values");
}

/* 23. Bad input, each in this child: defined outcomes. */
static void c_bad_input(void) {
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    iio_fd_t *fd = wrap(p[0]);
    iio_fd_call_t call;
    CHECK(iio_fd_set_deadline(fd, -1, 1) == -EINVAL, "which -1");
    CHECK(iio_fd_set_deadline(fd, 8, 1) == -EINVAL, "which 8");
    CHECK(iio_fd_set_deadline(fd, 0x101, 1) == -EINVAL, "which 0x101");
    int r = iio_fd_begin(fd, IIO_FD_BOTH, &call);
    CHECK(r == -EINVAL, "begin BOTH = %d", r);
    r = iio_fd_begin(fd, 7, &call);
    CHECK(r == -EINVAL, "begin 7 = %d", r);
    r = iio_fd_begin(fd, -1, &call);
    CHECK(r == -EINVAL, "begin -1 = %d", r);
    CHECK(!iio_fd_closed(fd), "closed");
    /* Nothing leaked into the call counts: close must not wait. */
    double t = now_s();
    CHECK(iio_fd_close(fd) == 0, "close");
    CHECK(now_s() - t < 1.0, "close waited %.2f s after rejected begins", now_s() - t);
    CHECK(iio_fd_close(fd) == -EBADF, "double close");
    iio_fd_free(fd);
    CHECK(iio_fd_wrap(1 << 30, &fd) == -EBADF, "huge number");
    CHECK(iio_fd_wrap(-5, &fd) == -EBADF, "negative");
}

/* NULL pointers into entry points: report what happens (each in a child). */
static void null_probe(int which) {
    char b;
    long r = -9999;
    switch (which) {
    case 0: r = iio_fd_read(NULL, &b, 1); break;
    case 1: r = iio_fd_set_deadline(NULL, IIO_FD_READ, 1); break;
    case 2: r = iio_fd_shutdown(NULL, SHUT_RD); break;
    case 3: r = iio_fd_number(NULL); break;
    case 4: r = iio_fd_closed(NULL); break;
    case 5: r = (long)iio_fd_deadline(NULL, IIO_FD_READ); break;
    case 6: {
        iio_fd_call_t c;
        r = iio_fd_begin(NULL, IIO_FD_READ, &c);
        break;
    }
    case 7: {
        int p[2];
        pipe(p);
        iio_fd_t *fd = wrap(p[0]);
        r = iio_fd_begin(fd, IIO_FD_READ, NULL);
        break;
    }
    }
    printf("  (NULL probe %d returned %ld)\n", which, r);
}
static void c_null_probes(void) {
    for (int i = 0; i < 8; i++) {
        fflush(stdout);
        pid_t ch = fork();
        if (ch == 0) {
            null_probe(i);
            fflush(stdout);
            _exit(0);
        }
        int st;
        waitpid(ch, &st, 0);
        if (WIFSIGNALED(st))
            printf("  (NULL probe %d: crashed with signal %d)\n", i, WTERMSIG(st));
    }
}

/* 24. A write that returned a count before a passed write deadline: the
 *     bytes are readable afterwards (pipe). Then reading under a passed
 *     read deadline fails but the bytes stay for after clearing it. */
static void c_bytes_before_deadline_stay_readable(void) {
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    iio_fd_t *r = wrap(p[0]), *w = wrap(p[1]);
    CHECK(iio_fd_write(w, "hello", 5) == 5, "write");
    CHECK(iio_fd_set_deadline(w, IIO_FD_BOTH, 1) == 0, "w deadline");
    CHECK(iio_fd_write(w, "X", 1) == -ETIMEDOUT, "write after passed deadline");
    CHECK(iio_fd_set_deadline(r, IIO_FD_READ, 1) == 0, "r deadline");
    char b[8];
    CHECK(iio_fd_read(r, b, 8) == -ETIMEDOUT, "read under passed deadline");
    CHECK(iio_fd_set_deadline(r, IIO_FD_READ, IIO_NEVER) == 0, "clear");
    CHECK(iio_fd_read(r, b, 8) == 5 && memcmp(b, "hello", 5) == 0, "bytes");
    CHECK(iio_fd_close(w) == 0, "close w");
    CHECK(iio_fd_read(r, b, 8) == 0, "EOF after close of the write end");
}

/* 25. A pipe writer blocked in a big write that already moved bytes:
 *     passed deadline and close return the count, and the reader gets
 *     exactly that many bytes. */
typedef struct {
    iio_fd_t *fd;
    long r;
    _Atomic int done;
    int use_writev;
} bigw_t;
static unsigned char bigbuf[1 << 20];
static void *big_writer(void *p) {
    bigw_t *b = p;
    if (b->use_writev) {
        struct iovec v[3] = {{bigbuf, 100}, {bigbuf + 100, 200000}, {bigbuf + 200100, sizeof bigbuf - 200100}};
        b->r = iio_fd_writev(b->fd, v, 3);
    } else
        b->r = iio_fd_write(b->fd, bigbuf, sizeof bigbuf);
    atomic_store(&b->done, 1);
    return NULL;
}
static void big_write_case(int use_close, int sock) {
    for (int round = 0; round < 6; round++) {
        int p[2];
        if (sock)
            CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, p) == 0, "sp");
        else
            CHECK(pipe(p) == 0, "pipe");
        for (size_t i = 0; i < sizeof bigbuf; i++)
            bigbuf[i] = (unsigned char)(i * 13 + 1);
        iio_fd_t *w = wrap(p[1]);
        bigw_t b = {.fd = w, .use_writev = round & 1};
        pthread_t th;
        pthread_create(&th, NULL, big_writer, &b);
        /* Drain some, so the write has moved bytes and is blocked. */
        unsigned char buf[4096];
        long got = 0, bad = 0;
        for (int i = 0; i < 10 + round * 7; i++) {
            ssize_t n = read(p[0], buf, sizeof buf);
            CHECK(n > 0, "drain");
            for (ssize_t k = 0; k < n; k++)
                bad += buf[k] != (unsigned char)((got + k) * 13 + 1);
            got += n;
        }
        sleep_us(30000);
        CHECK(!atomic_load(&b.done), "big write completed: %ld", b.r);
        double t = now_s();
        if (use_close)
            CHECK(iio_fd_close(w) == 0, "close");
        else
            CHECK(iio_fd_set_deadline(w, IIO_FD_WRITE, 1) == 0, "set");
        while (!atomic_load(&b.done) && now_s() - t < 2.0)
            sleep_us(500);
        CHECK(atomic_load(&b.done), "big writer not ended");
        pthread_join(th, NULL);
        if (!use_close) {
            CHECK(iio_fd_close(w) == 0, "close");
        }
        int fl = fcntl(p[0], F_GETFL);
        fcntl(p[0], F_SETFL, fl | O_NONBLOCK);
        ssize_t n;
        while ((n = read(p[0], buf, sizeof buf)) > 0) {
            for (ssize_t k = 0; k < n; k++)
                bad += buf[k] != (unsigned char)((got + k) * 13 + 1);
            got += n;
        }
        CHECK(bad == 0, "corrupt");
        CHECK(b.r > 0, "round %d: a write that had moved %ld bytes returned %ld", round, got, b.r);
        CHECK(b.r == got, "round %d: write returned %ld, the reader got %ld", round, b.r, got);
        close(p[0]);
    }
}
static void c_big_pipe_write_partial_then_deadline(void) { big_write_case(0, 0); }
static void c_big_pipe_write_partial_then_close(void) { big_write_case(1, 0); }
static void c_big_sock_write_partial_then_deadline(void) { big_write_case(0, 1); }
static void c_big_sock_write_partial_then_close(void) { big_write_case(1, 1); }

/* 26. shutdown does not end calls but must not be refused while callers
 *     are in flight, and close after it still closes once. */
static void c_shutdown_with_callers(void) {
    int s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0, "sp");
    iio_fd_t *fd = wrap(s[0]);
    caller_t *c = callers_alloc(4);
    int ops[] = {OP_READ, OP_RECV};
    callers_start(c, 4, fd, ops, 2, 8);
    CHECK(iio_fd_shutdown(fd, SHUT_RD) == 0, "shutdown");
    CHECK(callers_wait(c, 4, now_s(), 2.0) == 4, "SHUT_RD on AF_UNIX should end readers via EOF (kernel)");
    for (int i = 0; i < 4; i++)
        CHECK(c[i].result == 0, "reader %d = %ld", i, c[i].result);
    CHECK(iio_fd_close(fd) == 0, "close");
    CHECK(!is_open(s[0]), "open");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    g_filter = argc > 1 ? argv[1] : NULL;
    const char *entry = getenv("INTERRUPTIO_ENTRY");
    printf("# entry mode %s\n", entry ? entry : "(default)");
    run_case("mixed_directions_32_readers_8_writers", c_mixed_directions_32_readers_8_writers, 10);
    run_case("acceptors_all_reached", c_acceptors_all_reached, 10);
    run_case("deadline_set_while_callers_start", c_deadline_set_while_callers_start, 60);
    run_case("source_switching_callers_reached", c_source_switching_callers_reached, 60);
    run_case("concurrent_setters_final_passed_reaches_all", c_concurrent_setters_final_passed_reaches_all, 60);
    run_case("cancel_group_thread_deadline_mix", c_cancel_group_thread_deadline_mix, 15);
    run_case("thread_and_call_deadline_apply_to_fd_calls", c_thread_and_call_deadline_apply_to_fd_calls, 10);
    run_case("own_source_survives_fd_call", c_own_source_survives_fd_call, 10);
    run_case("fd_deadline_does_not_leak_into_later_plain_call", c_fd_deadline_does_not_leak_into_later_plain_call, 10);
    run_case("freed_fd_not_used_as_source_afterwards", c_freed_fd_not_used_as_source_afterwards, 10);
    run_case("nested_fd_call_then_deadline", c_nested_fd_call_then_deadline, 10);
    run_case("nested_fd_call_then_close", c_nested_fd_call_then_close, 10);
    run_case("handler_sets_own_fd_deadline", c_handler_sets_own_fd_deadline, 10);
    run_case("handler_closes_other_fd", c_handler_closes_other_fd, 10);
    run_case("close_waits_for_long_app_handler", c_close_waits_for_long_app_handler, 10);
    run_case("close_from_handler_random_timing", c_close_from_handler_random_timing, 120);
    run_case("close_ends_40_mixed_callers", c_close_ends_40_mixed_callers, 10);
    run_case("close_ends_1000_callers", c_close_ends_1000_callers, 30);
    run_case("passed_deadline_reaches_1000_readers", c_passed_deadline_reaches_1000_readers, 30);
    run_case("concurrent_closes", c_concurrent_closes, 60);
    run_case("every_call_after_close_ebadf_no_touch", c_every_call_after_close_ebadf_no_touch, 10);
    run_case("exactly_one_close_with_free", c_exactly_one_close_with_free, 30);
    run_case("write_deadline_flips_no_byte_lost", c_write_deadline_flips_no_byte_lost, 60);
    run_case("waitall_partial_then_deadline", c_waitall_partial_then_deadline, 10);
    run_case("waitall_partial_then_close", c_waitall_partial_then_close, 10);
    run_case("accept_race_close_no_fd_leak", c_accept_race_close_no_fd_leak, 120);
    run_case("fork_child_deadline_and_close", c_fork_child_deadline_and_close, 15);
    run_case("thread_churn_while_deadlines_change", c_thread_churn_while_deadlines_change, 60);
    run_case("deadline_edge_values", c_deadline_edge_values, 10);
    run_case("bad_input", c_bad_input, 10);
    run_case("null_probes", c_null_probes, 20);
    run_case("bytes_before_deadline_stay_readable", c_bytes_before_deadline_stay_readable, 10);
    run_case("big_pipe_write_partial_then_deadline", c_big_pipe_write_partial_then_deadline, 20);
    run_case("big_pipe_write_partial_then_close", c_big_pipe_write_partial_then_close, 20);
    run_case("big_sock_write_partial_then_deadline", c_big_sock_write_partial_then_deadline, 20);
    run_case("big_sock_write_partial_then_close", c_big_sock_write_partial_then_close, 20);
    run_case("shutdown_with_callers", c_shutdown_with_callers, 10);
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
