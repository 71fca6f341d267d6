/*
 * Outside attack, round i14: the shield (iio_shield_begin / _end /
 * iio_shielded) against cancels, sticky cancels, groups, deadlines,
 * descriptors, application signal handlers, nesting, thread exit and fork.
 * Each case runs in its own forked child under a timeout (a hang fails).
 *   TEST_PROGRAM=attack_i14_shield Tests/CTests/build.sh /tmp/a1
 *   /tmp/a1 [case-substring]
 * Every case that depends on the entry path runs on both.
 */
#include "attack_harness.h"

#include <sys/syscall.h>
#include <sys/file.h>
#include <sys/epoll.h>

/* ---- helpers ------------------------------------------------------------ */

typedef struct {
    pthread_t th;
    _Atomic int done;
    _Atomic int tid;
    void (*fn)(void *);
    void *arg;
} job_t;
static void *job_tramp(void *p) {
    job_t *j = p;
    atomic_store(&j->tid, (int)syscall(SYS_gettid));
    j->fn(j->arg);
    atomic_store(&j->done, 1);
    return NULL;
}
static void job_start(job_t *j, void (*fn)(void *), void *arg) {
    j->fn = fn;
    j->arg = arg;
    atomic_store(&j->done, 0);
    atomic_store(&j->tid, 0);
    CHECK(pthread_create(&j->th, NULL, job_tramp, j) == 0, "pthread_create");
}
/* 1 when it finished within ms (joined), 0 otherwise. */
static int job_wait(job_t *j, int ms) {
    uint64_t end = now_ns() + (uint64_t)ms * 1000000ull;
    while (!atomic_load(&j->done)) {
        if (now_ns() > end)
            return 0;
        sleep_us(1000);
    }
    pthread_join(j->th, NULL);
    return 1;
}
/* Waits until the thread sleeps in the kernel (state S) for a while. */
static void wait_sleeping(job_t *j) {
    while (atomic_load(&j->tid) == 0)
        sleep_us(500);
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", atomic_load(&j->tid));
    int seen = 0;
    for (int i = 0; i < 4000 && seen < 3; i++) {
        int f = open(path, O_RDONLY);
        ssize_t n = f >= 0 ? read(f, buf, sizeof buf - 1) : -1;
        if (f >= 0)
            close(f);
        if (n > 0) {
            buf[n] = 0;
            char *p = strrchr(buf, ')');
            if (p && p[2] == 'S')
                seen++;
            else
                seen = 0;
        }
        sleep_us(2000);
    }
    sleep_us(5000);
}

static int g_mode; /* entry mode for the case */
static void set_mode(void) {
    iio_init(0, 0);
    if (g_mode == IIO_ENTRY_PC_WINDOW && !iio_pc_window_available())
        g_mode = IIO_ENTRY_PORTABLE;
    CHECK(iio_set_entry_mode(g_mode) == 0, "set_entry_mode(%d)", g_mode);
}
static void run_both(const char *name, void (*fn)(void), int t) {
    char buf[200];
    snprintf(buf, sizeof buf, "%s [pc-window]", name);
    g_mode = IIO_ENTRY_PC_WINDOW;
    run_case(buf, fn, t);
    snprintf(buf, sizeof buf, "%s [portable]", name);
    g_mode = IIO_ENTRY_PORTABLE;
    run_case(buf, fn, t);
}

/* A target that runs: shield_begin; r1 = read (blocks); e = shield_end;
 * r2 = read; r3 = read. */
struct target {
    int rfd;
    iio_thread_t self;
    _Atomic int have_self;
    iio_group_t *group;
    int join_group;
    int clear_own_sticky; /* clear its sticky after r2 */
    long r1, r2, r3, r4;
    int e, shielded_inside, shielded_after, self_cancelled_after;
};
static void target_fn(void *p) {
    struct target *t = p;
    CHECK(iio_self(&t->self) == 0, "self");
    if (t->join_group)
        CHECK(iio_group_join(t->group) == 0, "join");
    atomic_store(&t->have_self, 1);
    char b[4];
    iio_shield_begin();
    t->shielded_inside = iio_shielded();
    t->r1 = iio_read(t->rfd, b, 4);
    t->e = iio_shield_end();
    t->shielded_after = iio_shielded();
    t->self_cancelled_after = iio_self_cancelled();
    t->r2 = iio_read(t->rfd, b, 4);
    t->r3 = iio_read(t->rfd, b, 4);
    if (t->clear_own_sticky) {
        iio_clear_cancel(t->self);
        if (t->join_group)
            iio_group_leave(t->group);
        t->r4 = iio_read(t->rfd, b, 4);
    }
}
static void start_target(job_t *j, struct target *t) {
    job_start(j, target_fn, t);
    while (!atomic_load(&t->have_self))
        sleep_us(500);
    wait_sleeping(j);
}

/* ---- cases -------------------------------------------------------------- */

/* Plain cancels reach a shielded read: it goes on and gets the data; the
 * shield end says 1; the next call fails once (data ready), the one after
 * that reads. */
static void c_kept_cancel_fails_first_call_once(void) {
    set_mode();
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    struct target t = {.rfd = p[0]};
    job_t j;
    start_target(&j, &t);
    for (int i = 0; i < 10; i++) {
        int c = iio_cancel(t.self);
        CHECK(c == 1, "cancel %d of a thread blocked in a shielded read returned %d", i, c);
        sleep_us(3000);
    }
    CHECK(!atomic_load(&j.done), "the shielded read ended on a cancel: r1=%ld", t.r1);
    CHECK(write(p[1], "abcdefghijklmnop", 16) == 16, "write");
    CHECK(job_wait(&j, 2000), "target did not finish");
    CHECK(t.shielded_inside == 1 && t.shielded_after == 0, "shielded %d/%d", t.shielded_inside, t.shielded_after);
    CHECK(t.r1 == 4, "shielded read returned %ld, want 4 bytes", t.r1);
    CHECK(t.e == 1, "iio_shield_end returned %d after kept cancels, want 1", t.e);
    CHECK(t.self_cancelled_after == 1, "iio_self_cancelled after the shield: %d", t.self_cancelled_after);
    CHECK(t.r2 == -ECANCELED, "first call after the shield returned %ld, want -ECANCELED", t.r2);
    CHECK(t.r3 == 4, "second call after the shield returned %ld, want the 4 bytes (failed twice?)", t.r3);
}

/* Sticky cancel reaches the shielded read, then is cleared while the read
 * is still blocked. The kept cancel still fails exactly one call. */
static void c_sticky_then_clear_during_shielded_call(void) {
    set_mode();
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    struct target t = {.rfd = p[0]};
    job_t j;
    start_target(&j, &t);
    int c = iio_cancel_sticky(t.self);
    CHECK(c == 1, "sticky cancel returned %d", c);
    sleep_us(20000);
    CHECK(!atomic_load(&j.done), "shielded read ended on a sticky cancel: %ld", t.r1);
    CHECK(iio_clear_cancel(t.self) == 0, "clear");
    sleep_us(5000);
    CHECK(write(p[1], "abcdefghijkl", 12) == 12, "write");
    CHECK(job_wait(&j, 2000), "target did not finish");
    CHECK(t.r1 == 4, "shielded read returned %ld", t.r1);
    /* interruptio.h (as changed during this round): iio_clear_cancel
     * "clears a sticky cancel and a cancel a shield kept" */
    CHECK(t.e == 0, "shield_end returned %d after iio_clear_cancel, want 0", t.e);
    CHECK(t.r2 == 4, "first call after: %ld", t.r2);
    CHECK(t.r3 == 4, "second call after: %ld", t.r3);
}

/* Sticky cancel in force through the scope, not cleared: every call after
 * fails until the thread clears it; then exactly no more failures. */
static void c_sticky_stays_in_force_after_scope(void) {
    set_mode();
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    struct target t = {.rfd = p[0], .clear_own_sticky = 1};
    job_t j;
    start_target(&j, &t);
    CHECK(iio_cancel_sticky(t.self) == 1, "sticky");
    sleep_us(20000);
    CHECK(write(p[1], "abcdefghijklmnop", 16) == 16, "write");
    CHECK(job_wait(&j, 2000), "target did not finish");
    CHECK(t.r1 == 4, "shielded read under a sticky cancel in force: %ld", t.r1);
    CHECK(t.e == 1, "shield_end %d", t.e);
    CHECK(t.r2 == -ECANCELED && t.r3 == -ECANCELED, "after scope: %ld %ld", t.r2, t.r3);
    CHECK(t.r4 == 4, "after clear: %ld (a kept cancel failed a call twice?)", t.r4);
}

/* Group cancel and reset while the member is in a shielded read. */
static void c_group_cancel_reset_during_shield(void) {
    set_mode();
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    struct target t = {.rfd = p[0], .join_group = 1, .group = iio_group_create()};
    job_t j;
    start_target(&j, &t);
    int n = iio_group_cancel(t.group);
    CHECK(n == 1, "group cancel counted %d members in a call", n);
    sleep_us(20000);
    CHECK(!atomic_load(&j.done), "shielded read ended on a group cancel: %ld", t.r1);
    iio_group_reset(t.group);
    CHECK(write(p[1], "abcdefghijklmnop", 16) == 16, "write");
    CHECK(job_wait(&j, 2000), "target did not finish");
    CHECK(t.r1 == 4, "r1 %ld", t.r1);
    CHECK(t.e == 1, "shield_end %d", t.e);
    CHECK(t.r2 == -ECANCELED, "r2 %ld", t.r2);
    CHECK(t.r3 == 4, "r3 %ld", t.r3);
}

/* Group cancelled (not reset) through the scope; leaving undoes it. */
static void c_group_cancel_in_force_then_leave(void) {
    set_mode();
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    struct target t = {.rfd = p[0], .join_group = 1, .group = iio_group_create(),
                       .clear_own_sticky = 1};
    job_t j;
    start_target(&j, &t);
    CHECK(iio_group_cancel(t.group) == 1, "group cancel");
    sleep_us(20000);
    CHECK(write(p[1], "abcdefghijklmnop", 16) == 16, "write");
    CHECK(job_wait(&j, 2000), "target did not finish");
    CHECK(t.r1 == 4, "r1 %ld", t.r1);
    CHECK(t.e == 1, "shield_end %d", t.e);
    CHECK(t.r2 == -ECANCELED && t.r3 == -ECANCELED, "r2 %ld r3 %ld", t.r2, t.r3);
    CHECK(t.r4 == 4, "after leaving the group: %ld", t.r4);
}

/* Deadlines are not shielded: a thread deadline passing during a shielded
 * poll with cancels raining on it ends it with -ETIMEDOUT on time. */
struct dl {
    iio_thread_t self;
    _Atomic int have;
    int which;
    long r;
    int e;
    uint64_t took;
    int rfd;
    iio_fd_t *fd;
};
static void dl_fn(void *p) {
    struct dl *d = p;
    iio_self(&d->self);
    struct pollfd pfd = {d->rfd, POLLIN, 0};
    uint64_t prev;
    char b[4];
    iio_shield_begin();
    atomic_store(&d->have, 1);
    uint64_t t0 = now_ns();
    switch (d->which) {
    case 0:
        iio_deadline_set(iio_now_ns() + 150000000ull);
        d->r = iio_poll(&pfd, 1, -1);
        iio_deadline_set(IIO_NEVER);
        break;
    case 1:
        iio_call_deadline_swap(iio_now_ns() + 150000000ull, &prev);
        d->r = iio_read(d->rfd, b, 4);
        iio_call_deadline_restore(prev);
        break;
    case 2: /* relative sleep of 150 ms, no deadline: cancels do not end it */
        d->r = iio_clock_nanosleep(CLOCK_MONOTONIC, 0, &(struct timespec){0, 150000000}, NULL);
        break;
    case 3: /* set_for from outside with a passed deadline */
        d->r = iio_read(d->rfd, b, 4);
        break;
    case 4: /* ppoll with its own timeout of 150 ms */
        d->r = iio_ppoll(&pfd, 1, &(struct timespec){0, 150000000}, NULL);
        break;
    case 5: /* fd read; the descriptor is closed */
        d->r = iio_fd_read(d->fd, b, 4);
        break;
    case 6: /* fd read; descriptor deadline in 150 ms */
        iio_fd_set_deadline(d->fd, IIO_FD_READ, iio_now_ns() + 150000000ull);
        d->r = iio_fd_read(d->fd, b, 4);
        break;
    case 7: /* sigtimedwait with its own timeout of 150 ms */
    {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGUSR2);
        d->r = iio_sigtimedwait(&s, NULL, &(struct timespec){0, 150000000});
        break;
    }
    case 8: /* epoll_wait 150 ms */
    {
        int ep = epoll_create1(0);
        struct epoll_event ev = {.events = EPOLLIN};
        epoll_ctl(ep, EPOLL_CTL_ADD, d->rfd, &ev);
        d->r = iio_epoll_wait(ep, &ev, 1, 150);
        break;
    }
    case 9: /* select 150 ms */
    {
        fd_set r;
        FD_ZERO(&r);
        FD_SET(d->rfd, &r);
        d->r = iio_select(d->rfd + 1, &r, NULL, NULL, &(struct timeval){0, 150000});
        break;
    }
    }
    d->took = now_ns() - t0;
    d->e = iio_shield_end();
}
#include <sys/epoll.h>
static void deadline_case(int which, long want) {
    set_mode();
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    struct dl d = {.which = which, .rfd = p[0]};
    if (which == 5 || which == 6)
        CHECK(iio_fd_wrap(p[0], &d.fd) == 0, "wrap");
    job_t j;
    job_start(&j, dl_fn, &d);
    while (!atomic_load(&d.have))
        sleep_us(200);
    int ones = 0;
    uint64_t t0 = now_ns();
    int closed = 0;
    while (!atomic_load(&j.done) && now_ns() - t0 < 2000000000ull) {
        if (iio_cancel(d.self) == 1)
            ones++;
        if (which == 3 && now_ns() - t0 > 100000000ull && !closed) {
            closed = 1;
            CHECK(iio_deadline_set_for(d.self, 1) == 0, "set_for");
        }
        if (which == 5 && now_ns() - t0 > 100000000ull && !closed) {
            closed = 1;
            int c = iio_fd_close(d.fd);
            CHECK(c == 0, "iio_fd_close of a descriptor in a shielded call returned %d", c);
        }
        sleep_us(1000);
    }
    CHECK(job_wait(&j, 1500), "shielded call (case %d) did not end: a deadline/close did not reach it", which);
    CHECK(d.r == want, "shielded call (case %d) returned %ld, want %ld", which, d.r, want);
    CHECK(d.took >= 95000000ull && d.took < 900000000ull, "case %d took %.3f s (want ~0.15)", which, d.took / 1e9);
    CHECK(ones > 0, "no cancel found the call in flight");
    CHECK(d.e == 1, "shield_end after %d kept cancels returned %d", ones, d.e);
}
static void c_thread_deadline_in_shielded_poll(void) { deadline_case(0, -ETIMEDOUT); }
static void c_call_deadline_in_shielded_read(void) { deadline_case(1, -ETIMEDOUT); }
static void c_shielded_sleep_keeps_its_end(void) { deadline_case(2, 0); }
static void c_set_for_passed_in_shielded_read(void) { deadline_case(3, -ETIMEDOUT); }
static void c_shielded_ppoll_own_timeout(void) { deadline_case(4, 0); }
static void c_fd_close_ends_shielded_fd_read(void) { deadline_case(5, -EBADF); }
static void c_fd_deadline_in_shielded_fd_read(void) { deadline_case(6, -ETIMEDOUT); }
static void c_shielded_sigtimedwait_own_timeout(void) { deadline_case(7, -EAGAIN); }
static void c_shielded_epoll_wait_own_timeout(void) { deadline_case(8, 0); }
static void c_shielded_select_own_timeout(void) { deadline_case(9, 0); }

/* Nesting and the API's edges. */
static void c_nesting_and_api(void) {
    set_mode();
    CHECK(iio_shield_end() == -EINVAL, "end without begin");
    CHECK(iio_shielded() == 0, "shielded at start");
    iio_shield_begin();
    iio_shield_begin();
    CHECK(iio_shielded() == 1, "shielded nested");
    CHECK(iio_shield_end() == 0, "inner end");
    CHECK(iio_shielded() == 1, "still shielded");
    CHECK(iio_shield_end() == 0, "outer end, nothing kept");
    CHECK(iio_shielded() == 0, "unshielded");
    CHECK(iio_shield_end() == -EINVAL, "extra end");
    CHECK(iio_shielded() == 0, "extra end changed the depth");
    /* a kept cancel in the inner scope: the inner end says 0 (the next call
     * is still shielded and does not fail), the outer one 1 */
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    iio_thread_t me;
    iio_self(&me);
    iio_shield_begin();
    iio_shield_begin();
    CHECK(iio_cancel_sticky(me) == 0, "sticky on self between calls");
    CHECK(write(p[1], "abcd", 4) == 4, "w");
    char b[4];
    long r = iio_read(p[0], b, 2);
    CHECK(r == 2, "shielded read under own sticky: %ld", r);
    int e = iio_shield_end();
    CHECK(e == 0, "inner end with a sticky in force said %d (next call is still shielded)", e);
    r = iio_read(p[0], b, 1);
    CHECK(r == 1, "read in outer scope: %ld", r);
    e = iio_shield_end();
    CHECK(e == 1, "outer end with sticky in force: %d", e);
    CHECK(iio_read(p[0], b, 1) == -ECANCELED, "sticky after scope");
    iio_clear_cancel(me);
    CHECK(iio_read(p[0], b, 1) == 1, "after clear");
}

/* "An iio_cancel that finds the thread between calls does nothing, in a
 * shield or not." */
static void c_cancel_between_calls_in_shield_does_nothing(void) {
    set_mode();
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    iio_thread_t me;
    iio_self(&me);
    iio_shield_begin();
    CHECK(iio_cancel(me) == 0, "cancel between calls");
    CHECK(iio_self_cancelled() == 0, "self_cancelled after a cancel between calls");
    CHECK(iio_shield_end() == 0, "shield_end after a cancel between calls");
    CHECK(write(p[1], "a", 1) == 1, "w");
    char b;
    CHECK(iio_read(p[0], &b, 1) == 1, "next call");
}

/* iio_self_cancelled inside a shield with a cancel in force. The outside
 * attack found the header promising "the next call fails" while the next
 * call, shielded, succeeded; the header now says: a cancel is in force,
 * and the call that fails is the first after the shield. Checked here. */
static void c_self_cancelled_inside_shield_matches_next_call(void) {
    set_mode();
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    iio_thread_t me;
    iio_self(&me);
    iio_cancel_sticky(me);
    iio_shield_begin();
    CHECK(write(p[1], "ab", 2) == 2, "w");
    int says = iio_self_cancelled();
    char b;
    long r = iio_read(p[0], &b, 1);
    int ended = iio_shield_end();
    long after = iio_read(p[0], &b, 1);
    iio_clear_cancel(me);
    CHECK(says == 1, "inside a shield with a sticky cancel: %d", says);
    CHECK(r == 1, "the shielded read: %ld", r);
    CHECK(ended == 1 && after == -ECANCELED,
          "after the shield: end %d, next call %ld", ended, after);
}

/* An application handler runs on the target while it is in a shielded
 * read: it cancels its own thread (safe from a handler), and writes the
 * byte the outer read is waiting for. The outer read must return that
 * byte; the kept cancel fails the first call after the shield. */
static int hp[2];
static iio_thread_t h_self;
static _Atomic int h_cancel_result = -99, h_write_result = -99, h_ran;
static void h_self_cancel_and_write(int s) {
    (void)s;
    int e = errno;
    atomic_store(&h_cancel_result, iio_cancel(h_self));
    atomic_store(&h_write_result, (int)iio_write(hp[1], "x", 1));
    atomic_store(&h_ran, 1);
    errno = e;
}
struct ht {
    long r1, r2, r3;
    int e;
    _Atomic int have;
};
static void h_target(void *p) {
    struct ht *t = p;
    iio_self(&h_self);
    atomic_store(&t->have, 1);
    char b[4];
    iio_shield_begin();
    t->r1 = iio_read(hp[0], b, 1);
    t->e = iio_shield_end();
    t->r2 = iio_poll(&(struct pollfd){hp[0], POLLIN, 0}, 1, 0);
    t->r3 = iio_poll(&(struct pollfd){hp[0], POLLIN, 0}, 1, 0);
}
static void handler_case(int restart) {
    set_mode();
    CHECK(pipe(hp) == 0, "pipe");
    struct sigaction sa = {0};
    sa.sa_handler = h_self_cancel_and_write;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGUSR1, &sa, NULL);
    struct ht t = {0};
    job_t j;
    job_start(&j, h_target, &t);
    while (!atomic_load(&t.have))
        sleep_us(200);
    wait_sleeping(&j);
    pthread_kill(j.th, SIGUSR1);
    CHECK(job_wait(&j, 2000), "target did not finish");
    CHECK(h_ran, "handler did not run");
    CHECK(h_cancel_result == 1, "iio_cancel(self) from a handler over a shielded call returned %d", (int)h_cancel_result);
    CHECK(h_write_result == 1, "nested write %d", (int)h_write_result);
    CHECK(t.r1 == 1, "shielded outer read returned %ld, want the byte the handler wrote", t.r1);
    CHECK(t.e == 1, "shield_end %d", t.e);
    CHECK(t.r2 == -ECANCELED, "first call after scope %ld", t.r2);
    CHECK(t.r3 == 0, "second call after scope %ld", t.r3);
}
static void c_handler_cancels_self_during_shielded_read_restart(void) { handler_case(1); }
static void c_handler_cancels_self_during_shielded_read_norestart(void) { handler_case(0); }

/* Another thread cancels while the target, blocked in a shielded read, runs
 * an application handler (SA_RESTART); data arrives before the handler
 * returns. iio_cancel says 1 (a call in flight); the shield must keep the
 * cancel: the shield end says 1 and the next call fails. */
static _Atomic int w_stage;
static void h_wait(int s) {
    (void)s;
    int e = errno;
    atomic_store(&w_stage, 1);
    while (atomic_load(&w_stage) != 2) {
        struct timespec t = {0, 200000};
        nanosleep(&t, NULL);
    }
    errno = e;
}
static void wait_handler_case(int restart) {
    set_mode();
    CHECK(pipe(hp) == 0, "pipe");
    struct sigaction sa = {0};
    sa.sa_handler = h_wait;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGUSR1, &sa, NULL);
    struct ht t = {0};
    job_t j;
    job_start(&j, h_target, &t);
    while (!atomic_load(&t.have))
        sleep_us(200);
    wait_sleeping(&j);
    pthread_kill(j.th, SIGUSR1);
    while (atomic_load(&w_stage) != 1)
        sleep_us(200);
    int c = iio_cancel(h_self);
    CHECK(c == 1, "cancel returned %d", c);
    CHECK(write(hp[1], "x", 1) == 1, "w");
    sleep_us(5000);
    atomic_store(&w_stage, 2);
    CHECK(job_wait(&j, 2000), "target did not finish");
    CHECK(t.r1 == 1, "shielded read %ld", t.r1);
    CHECK(t.e == 1, "iio_cancel returned 1 for the shielded call, the call returned its byte, "
                    "but iio_shield_end() returned %d: the cancel was neither delivered nor kept", t.e);
    CHECK(t.r2 == -ECANCELED, "first call after scope %ld", t.r2);
    CHECK(t.r3 == 0, "second call after scope %ld", t.r3);
}
static void c_cancel_during_handler_over_shielded_read_restart(void) { wait_handler_case(1); }
static void c_cancel_during_handler_over_shielded_read_norestart(void) { wait_handler_case(0); }

/* One cancel per round, aimed at a shielded read whose data is ready (so
 * the cancel often lands while the call is returning). Whenever iio_cancel
 * says 1 (the shielded call was in flight), the call goes on and the cancel
 * must be kept: the shield end says 1 (P6: "a cancel that reached one fails
 * the first call after the shield, once (never lost ...)"). */
static _Atomic int hs_stop, hs_have;
static _Atomic long hs_ones, hs_round, hs_lost, hs_kept;
static iio_thread_t hs_self;
static int hs_pipe[2];
static void hs_target(void *p) {
    (void)p;
    iio_self(&hs_self);
    static char buf[4096];
    memset(buf, 'a', sizeof buf);
    long in_pipe = 0;
    atomic_store(&hs_have, 1);
    for (long k = 0; !atomic_load(&hs_stop); k++) {
        if (in_pipe < 4096) {
            if (write(hs_pipe[1], buf, sizeof buf) != (ssize_t)sizeof buf)
                abort();
            in_pipe += (long)sizeof buf;
        }
        iio_shield_begin();
        /* one-byte reads (data ready) until the canceller has had its
         * iio_cancel return 1 for this round */
        while (atomic_load(&hs_ones) <= k && !atomic_load(&hs_stop)) {
            char b;
            if (iio_read(hs_pipe[0], &b, 1) != 1)
                abort();
            if (--in_pipe == 0)
                break;
        }
        int e = iio_shield_end();
        if (atomic_load(&hs_ones) > k) {
            if (e != 1)
                atomic_fetch_add(&hs_lost, 1);
            else {
                atomic_fetch_add(&hs_kept, 1);
                /* spend it with a plain iio call that fails at once */
                char b;
                if (iio_read(hs_pipe[0], &b, 1) != -ECANCELED)
                    abort();
            }
        }
        atomic_store(&hs_round, k + 1);
    }
}
static void c_cancel_returning_1_to_shielded_call_is_kept(void) {
    set_mode();
    CHECK(pipe(hs_pipe) == 0, "pipe");
    fcntl(hs_pipe[1], F_SETPIPE_SZ, 1 << 16);
    job_t j;
    job_start(&j, hs_target, NULL);
    while (!atomic_load(&hs_have))
        sleep_us(100);
    uint64_t t0 = now_ns();
    for (long k = 0; now_ns() - t0 < 1000000000ull; k++) {
        while (atomic_load(&hs_round) < k)
            ;
        /* the target is in round k (or about to be): cancel until one
         * call in flight is found; only shielded reads are in flight */
        while (iio_cancel(hs_self) != 1)
            ;
        atomic_store(&hs_ones, k + 1);
    }
    atomic_store(&hs_stop, 1);
    CHECK(job_wait(&j, 3000), "target hung");
    printf("  rounds %ld: cancels that found the shielded read %ld, kept %ld, lost %ld\n", (long)hs_round,
           (long)hs_ones, (long)hs_kept, (long)hs_lost);
    CHECK(hs_ones >= 3, "could not stage");
    CHECK(hs_lost == 0, "%ld of %ld cancels that returned 1 for a shielded call were neither delivered nor kept "
                        "(iio_shield_end() said 0)", (long)hs_lost, (long)hs_ones);
}

/* A thread joins a cancelled group inside a shield: its calls there go on;
 * the first call after the scope fails, and every one until it leaves. */
static void c_join_cancelled_group_inside_shield(void) {
    set_mode();
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    iio_group_t *g = iio_group_create();
    iio_group_cancel(g);
    iio_shield_begin();
    CHECK(iio_group_join(g) == -ECANCELED, "join cancelled group");
    CHECK(write(p[1], "abc", 3) == 3, "w");
    char b;
    CHECK(iio_read(p[0], &b, 1) == 1, "shielded read in a cancelled group");
    CHECK(iio_shield_end() == 1, "end");
    CHECK(iio_read(p[0], &b, 1) == -ECANCELED, "after");
    CHECK(iio_read(p[0], &b, 1) == -ECANCELED, "after 2");
    CHECK(iio_group_leave(g) == 0, "leave");
    CHECK(iio_read(p[0], &b, 1) == 1, "after leaving");
}

/* A shield begun inside an application handler while the thread's outer
 * call is unshielded; a cancel from another thread lands while the handler
 * is inside its shield. The outer call is not shielded: it must end
 * (-ECANCELED). Nothing is kept for later calls, the depth is 0 again. */
static _Atomic int g2_stage;
static _Atomic long g2_nested = -99;
static _Atomic int g2_end = -99, g2_shielded_in = -99;
static void h_shield_in_handler(int s) {
    (void)s;
    int e = errno;
    iio_shield_begin();
    atomic_store(&g2_shielded_in, iio_shielded());
    atomic_store(&g2_stage, 1);
    while (atomic_load(&g2_stage) != 2) {
        struct timespec t = {0, 200000};
        nanosleep(&t, NULL);
    }
    atomic_store(&g2_nested, (long)iio_write(hp[1], "y", 1));
    atomic_store(&g2_end, iio_shield_end());
    errno = e;
}
struct g2t {
    long r1, r2;
    int shielded_after;
    _Atomic int have;
};
static void g2_target(void *p) {
    struct g2t *t = p;
    iio_self(&h_self);
    atomic_store(&t->have, 1);
    char b[4];
    t->r1 = iio_read(hp[0], b, 1);
    t->shielded_after = iio_shielded();
    t->r2 = iio_poll(&(struct pollfd){hp[0], POLLIN, 0}, 1, 0);
}
static void shield_in_handler_case(int restart) {
    set_mode();
    CHECK(pipe(hp) == 0, "pipe");
    struct sigaction sa = {0};
    sa.sa_handler = h_shield_in_handler;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGUSR1, &sa, NULL);
    struct g2t t = {0};
    job_t j;
    job_start(&j, g2_target, &t);
    while (!atomic_load(&t.have))
        sleep_us(200);
    wait_sleeping(&j);
    pthread_kill(j.th, SIGUSR1);
    while (atomic_load(&g2_stage) != 1)
        sleep_us(200);
    int c = iio_cancel(h_self);
    CHECK(c == 1, "cancel of the outer (unshielded) call while its handler is shielded: %d", c);
    sleep_us(10000);
    atomic_store(&g2_stage, 2);
    CHECK(job_wait(&j, 2000), "outer unshielded call not ended by a cancel made while a handler was shielded (hang)");
    CHECK(g2_shielded_in == 1, "shielded in handler %d", (int)g2_shielded_in);
    CHECK(g2_nested == 1, "nested write %ld", (long)g2_nested);
    CHECK(g2_end == 0, "handler's shield_end %d", (int)g2_end);
    /* -ECANCELED, or the byte (the portable path with SA_RESTART restarts
     * the read, which finds the handler's byte: a result, as for any
     * unshielded call) */
    CHECK(t.r1 == -ECANCELED || t.r1 == 1, "outer unshielded read returned %ld, want -ECANCELED", t.r1);
    CHECK(t.shielded_after == 0, "depth after handler %d", t.shielded_after);
    CHECK(t.r2 == (t.r1 == 1 ? 0 : 1), "next call %ld (a cancel carried over?)", t.r2);
}
static void c_shield_in_handler_outer_unshielded_restart(void) { shield_in_handler_case(1); }
static void c_shield_in_handler_outer_unshielded_norestart(void) { shield_in_handler_case(0); }

/* A cancel landing as the shield ends, many times. Invariants:
 * - a call inside the scope never returns -ECANCELED;
 * - shield_end == 1 => the next call fails -ECANCELED;
 * - -ECANCELED outside scopes never exceeds the cancels that returned 1;
 * - the call after a kept failure is not failed again by the same cancel. */
static _Atomic int race_stop;
static _Atomic long race_shielded_bad, race_after_bad, race_canceled_seen, race_rounds;
static int race_pipe[2];
static iio_thread_t race_self;
static _Atomic int race_have;
static void race_target(void *p) {
    (void)p;
    iio_self(&race_self);
    atomic_store(&race_have, 1);
    char b;
    struct pollfd pfd = {race_pipe[0], POLLIN, 0};
    while (!atomic_load(&race_stop)) {
        if (write(race_pipe[1], "z", 1) != 1)
            break;
        iio_shield_begin();
        long r1 = iio_read(race_pipe[0], &b, 1);
        long r1b = iio_poll(&pfd, 1, 0);
        int e = iio_shield_end();
        if (r1 != 1 || r1b < 0)
            atomic_fetch_add(&race_shielded_bad, 1);
        long r2 = iio_poll(&pfd, 1, 0);
        if (e == 1 && r2 != -ECANCELED)
            atomic_fetch_add(&race_after_bad, 1);
        if (r2 == -ECANCELED)
            atomic_fetch_add(&race_canceled_seen, 1);
        atomic_fetch_add(&race_rounds, 1);
    }
}
static void c_cancel_lands_as_shield_ends(void) {
    set_mode();
    CHECK(pipe(race_pipe) == 0, "pipe");
    job_t j;
    job_start(&j, race_target, NULL);
    while (!atomic_load(&race_have))
        sleep_us(100);
    long ones = 0;
    uint64_t t0 = now_ns();
    unsigned seed = 1;
    while (now_ns() - t0 < 1500000000ull) {
        if (iio_cancel(race_self) == 1)
            ones++;
        seed = seed * 1103515245u + 12345u;
        for (volatile unsigned k = 0; k < (seed >> 20) % 3000; k++) {
        }
    }
    atomic_store(&race_stop, 1);
    CHECK(job_wait(&j, 3000), "target hung");
    printf("  rounds %ld, cancels returning 1 %ld, ECANCELED seen after scopes %ld\n",
           (long)race_rounds, ones, (long)race_canceled_seen);
    CHECK(race_shielded_bad == 0, "%ld shielded calls failed", (long)race_shielded_bad);
    CHECK(race_after_bad == 0, "%ld times shield_end said 1 and the next call did not fail", (long)race_after_bad);
    CHECK(race_canceled_seen <= ones, "more -ECANCELED (%ld) than cancels that found a call (%ld)",
          (long)race_canceled_seen, ones);
}

/* A kept cancel fails exactly one call after the scope, also when foreign
 * signal handlers that make calls run at every moment (a handler's call can
 * be that first call; then the thread's own next call must not fail too). */
static int tw_p[2], tw_q[2];
static iio_thread_t tw_self;
static _Atomic long tw_handler_canceled;
static _Atomic int tw_stop, tw_have;
static void tw_usr1(int s) { /* makes the cancel reach the shielded read */
    (void)s;
    int e = errno;
    iio_cancel(tw_self);
    if (write(tw_p[1], "k", 1) != 1)
        abort();
    errno = e;
}
static void tw_usr2(int s) { /* a foreign handler making a call */
    (void)s;
    int e = errno;
    if (iio_poll(&(struct pollfd){tw_q[0], POLLIN, 0}, 1, 0) == -ECANCELED)
        atomic_fetch_add(&tw_handler_canceled, 1);
    errno = e;
}
static _Atomic long tw_twice, tw_none, tw_rounds;
static _Atomic int tw_armed;
static pthread_t tw_th;
static void *tw_kicker(void *a) {
    (void)a;
    while (!atomic_load(&tw_stop)) {
        if (atomic_exchange(&tw_armed, 0))
            pthread_kill(tw_th, SIGUSR1);
    }
    return NULL;
}
static _Atomic int tw_tid;
static void tw_target(void *p) {
    (void)p;
    iio_self(&tw_self);
    atomic_store(&tw_tid, (int)syscall(SYS_gettid));
    atomic_store(&tw_have, 1);
    char b;
    while (!atomic_load(&tw_stop)) {
        iio_shield_begin();
        atomic_store(&tw_armed, 1); /* the kicker sends SIGUSR1 now */
        long r = iio_read(tw_p[0], &b, 1);
        long before = atomic_load(&tw_handler_canceled);
        int e = iio_shield_end();
        if (r != 1 || e != 1) {
            /* the cancel landed while not in the read: no kept cancel */
            continue;
        }
        long own = 0;
        for (int k = 0; k < 3; k++)
            own += iio_poll(&(struct pollfd){tw_q[0], POLLIN, 0}, 1, 0) == -ECANCELED;
        long total = own + (atomic_load(&tw_handler_canceled) - before);
        if (total > 1)
            atomic_fetch_add(&tw_twice, 1);
        if (total == 0)
            atomic_fetch_add(&tw_none, 1);
        atomic_fetch_add(&tw_rounds, 1);
    }
}
static void c_kept_cancel_once_under_handler_storm(void) {
    set_mode();
    CHECK(pipe(tw_p) == 0 && pipe(tw_q) == 0, "pipes");
    struct sigaction sa = {0};
    sa.sa_handler = tw_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = tw_usr2;
    sigaction(SIGUSR2, &sa, NULL);
    job_t j;
    job_start(&j, tw_target, NULL);
    while (!atomic_load(&tw_have))
        sleep_us(100);
    tw_th = j.th;
    pthread_t k;
    pthread_create(&k, NULL, tw_kicker, NULL);
    uint64_t t0 = now_ns();
    while (now_ns() - t0 < 1500000000ull) {
        pthread_kill(j.th, SIGUSR2);
        if (!atomic_load(&tw_armed) && atomic_load(&j.done) == 0) {
        }
    }
    atomic_store(&tw_stop, 1);
    pthread_join(k, NULL);
    pthread_kill(j.th, SIGUSR1);
    CHECK(job_wait(&j, 3000), "target hung");
    printf("  rounds with a kept cancel %ld\n", (long)tw_rounds);
    CHECK(tw_rounds > 100, "too few rounds");
    CHECK(tw_twice == 0, "%ld kept cancels failed two calls", (long)tw_twice);
    CHECK(tw_none == 0, "%ld kept cancels failed no call", (long)tw_none);
}

/* Deadlines passing while cancels rain on a shielded read (a deadline
 * request and a cancel meeting at the target: the cancel upgrades it): every
 * call still ends -ETIMEDOUT, on time, and never -ECANCELED. */
static _Atomic int dr_stop, dr_have;
static iio_thread_t dr_self;
static _Atomic long dr_bad, dr_slow, dr_calls;
static _Atomic long dr_last = 0;
static void dr_target(void *p) {
    int rfd = *(int *)p;
    iio_self(&dr_self);
    atomic_store(&dr_have, 1);
    char b;
    iio_shield_begin();
    for (int i = 0; i < 300; i++) {
        uint64_t t0 = now_ns();
        iio_deadline_set(iio_now_ns() + 1000000ull + (uint64_t)(i % 7) * 300000ull);
        long r = iio_read(rfd, &b, 1);
        uint64_t took = now_ns() - t0;
        if (r != -ETIMEDOUT) {
            atomic_fetch_add(&dr_bad, 1);
            atomic_store(&dr_last, r);
        }
        if (took > 300000000ull)
            atomic_fetch_add(&dr_slow, 1);
        atomic_fetch_add(&dr_calls, 1);
    }
    iio_deadline_set(IIO_NEVER);
    iio_shield_end();
    atomic_store(&dr_stop, 1);
}
static void c_deadlines_fire_under_cancel_rain_in_shield(void) {
    set_mode();
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    job_t j;
    job_start(&j, dr_target, &p[0]);
    while (!atomic_load(&dr_have))
        sleep_us(100);
    long ones = 0;
    while (!atomic_load(&dr_stop))
        ones += iio_cancel(dr_self) == 1;
    CHECK(job_wait(&j, 5000), "target hung");
    printf("  %ld calls, %ld cancels found one in flight\n", (long)dr_calls, ones);
    CHECK(dr_bad == 0, "%ld shielded reads under a passing deadline did not return -ETIMEDOUT (last %ld)",
          (long)dr_bad, (long)dr_last);
    CHECK(dr_slow == 0, "%ld took more than 0.3 s for a ~2 ms deadline", (long)dr_slow);
}

/* A thread exits inside a scope with a kept cancel and a sticky cancel;
 * the next thread (which takes its record) is affected by neither. */
struct ex {
    int rfd;
    iio_thread_t self;
    _Atomic int have;
    long r;
};
static void ex_first(void *p) {
    struct ex *x = p;
    iio_self(&x->self);
    atomic_store(&x->have, 1);
    char b;
    iio_shield_begin();
    iio_shield_begin();
    x->r = iio_read(x->rfd, &b, 1);
    /* exits with depth 2, KEPT and STICKY set */
}
static void ex_second(void *p) {
    struct ex *x = p;
    iio_self(&x->self);
    char b;
    x->r = iio_shielded() ? -1000 : iio_read(x->rfd, &b, 1);
}
static void c_thread_exit_inside_scope(void) {
    set_mode();
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    struct ex a = {.rfd = p[0]}, b = {.rfd = p[0]};
    job_t j;
    job_start(&j, ex_first, &a);
    while (!atomic_load(&a.have))
        sleep_us(100);
    wait_sleeping(&j);
    CHECK(iio_cancel(a.self) == 1, "cancel");
    CHECK(iio_cancel_sticky(a.self) == 1, "sticky");
    CHECK(write(p[1], "ab", 2) == 2, "w");
    CHECK(job_wait(&j, 2000), "first");
    CHECK(a.r == 1, "first thread's shielded read %ld", a.r);
    CHECK(iio_cancel(a.self) == -ESRCH, "exited handle");
    job_start(&j, ex_second, &b);
    CHECK(job_wait(&j, 2000), "second");
    printf("  record reused: %s\n", a.self.record == b.self.record ? "yes" : "no");
    CHECK(b.r == 1, "the next thread's first read returned %ld (-1000: born shielded)", b.r);
}

/* fork inside a scope with a kept cancel: the child is the same thread,
 * still shielded, and the kept cancel fails its first call after the
 * scope, once; a thread of the child cancels the child's shielded call. */
static void c_fork_inside_scope(void) {
    set_mode();
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    iio_thread_t me;
    iio_self(&me);
    iio_shield_begin();
    /* a helper cancels our shielded read, then writes */
    struct {
        iio_thread_t t;
        int w;
    } arg = {me, p[1]};
    job_t j;
    void helper(void *a);
    job_start(&j, helper, &arg);
    char b;
    long r = iio_read(p[0], &b, 1);
    CHECK(job_wait(&j, 2000), "helper");
    CHECK(r == 1, "shielded read %ld", r);
    CHECK(iio_self_cancelled() == 1, "kept not recorded");
    CHECK(write(p[1], "cdef", 4) == 4, "w");
    pid_t c = fork();
    if (c == 0) {
        if (!iio_shielded()) _exit(10);
        iio_thread_t cme;
        iio_self(&cme);
        /* a new thread in the child cancels our shielded read */
        arg.t = cme;
        job_t cj;
        job_start(&cj, helper, &arg);
        long cr = iio_read(p[0], &b, 1);
        if (!job_wait(&cj, 2000)) _exit(11);
        if (cr != 1) _exit(12);
        if (iio_shield_end() != 1) _exit(13);
        if (iio_read(p[0], &b, 1) != -ECANCELED) _exit(14);
        if (iio_read(p[0], &b, 1) != 1) _exit(15);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed with status %d", WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st));
    CHECK(iio_shield_end() == 1, "parent shield_end");
    CHECK(iio_read(p[0], &b, 1) == -ECANCELED, "parent first after");
}
void helper(void *a) {
    struct {
        iio_thread_t t;
        int w;
    } *x = a;
    sleep_us(50000);
    for (int i = 0; i < 5; i++) {
        iio_cancel(x->t);
        sleep_us(3000);
    }
    if (write(x->w, "q", 1) != 1)
        abort();
}

/* iio_connect inside a shield, cancelled while the kernel's attempt is
 * still going: the shielded connect must not return -ECANCELED; the
 * kept cancel fails the next call. (Listener with a full backlog.) */
static void c_shielded_connect_cancelled(void) {
    set_mode();
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(l, (void *)&a, sizeof a) == 0, "bind");
    socklen_t al = sizeof a;
    getsockname(l, (void *)&a, &al);
    CHECK(listen(l, 0) == 0, "listen");
    /* fill the backlog */
    int fill[4];
    for (int i = 0; i < 4; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fill[i], (void *)&a, sizeof a);
    }
    sleep_us(20000);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {0, 0};
    (void)tv;
    iio_thread_t me;
    iio_self(&me);
    struct {
        iio_thread_t t;
        int w;
    } arg = {me, -1};
    job_t j;
    void helper2(void *);
    job_start(&j, helper2, &arg);
    iio_shield_begin();
    uint64_t prev;
    iio_call_deadline_swap(iio_now_ns() + 400000000ull, &prev);
    int r = iio_connect(s, (void *)&a, sizeof a);
    iio_call_deadline_restore(prev);
    int e = iio_shield_end();
    CHECK(job_wait(&j, 2000), "helper");
    CHECK(r != -ECANCELED, "shielded connect returned -ECANCELED");
    CHECK(r == 0 || r == -ETIMEDOUT, "shielded connect returned %d", r);
    CHECK(e == 1, "shield_end %d", e);
}
void helper2(void *a) {
    struct {
        iio_thread_t t;
        int w;
    } *x = a;
    sleep_us(50000);
    for (int i = 0; i < 5; i++) {
        iio_cancel(x->t);
        sleep_us(3000);
    }
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    g_filter = argc > 1 ? argv[1] : NULL;
    run_both("kept_cancel_fails_first_call_once", c_kept_cancel_fails_first_call_once, 10);
    run_both("sticky_then_clear_during_shielded_call", c_sticky_then_clear_during_shielded_call, 10);
    run_both("sticky_stays_in_force_after_scope", c_sticky_stays_in_force_after_scope, 10);
    run_both("group_cancel_reset_during_shield", c_group_cancel_reset_during_shield, 10);
    run_both("group_cancel_in_force_then_leave", c_group_cancel_in_force_then_leave, 10);
    run_both("thread_deadline_in_shielded_poll", c_thread_deadline_in_shielded_poll, 10);
    run_both("call_deadline_in_shielded_read", c_call_deadline_in_shielded_read, 10);
    run_both("shielded_sleep_keeps_its_end", c_shielded_sleep_keeps_its_end, 10);
    run_both("set_for_passed_in_shielded_read", c_set_for_passed_in_shielded_read, 10);
    run_both("shielded_ppoll_own_timeout", c_shielded_ppoll_own_timeout, 10);
    run_both("fd_close_ends_shielded_fd_read", c_fd_close_ends_shielded_fd_read, 10);
    run_both("fd_deadline_in_shielded_fd_read", c_fd_deadline_in_shielded_fd_read, 10);
    run_both("shielded_sigtimedwait_own_timeout", c_shielded_sigtimedwait_own_timeout, 10);
    run_both("shielded_epoll_wait_own_timeout", c_shielded_epoll_wait_own_timeout, 10);
    run_both("shielded_select_own_timeout", c_shielded_select_own_timeout, 10);
    run_both("nesting_and_api", c_nesting_and_api, 10);
    run_both("cancel_between_calls_in_shield_does_nothing", c_cancel_between_calls_in_shield_does_nothing, 10);
    run_both("self_cancelled_inside_shield_matches_next_call", c_self_cancelled_inside_shield_matches_next_call, 10);
    run_both("handler_cancels_self_during_shielded_read_restart", c_handler_cancels_self_during_shielded_read_restart, 10);
    run_both("handler_cancels_self_during_shielded_read_norestart", c_handler_cancels_self_during_shielded_read_norestart, 10);
    run_both("cancel_during_handler_over_shielded_read_restart", c_cancel_during_handler_over_shielded_read_restart, 10);
    run_both("cancel_during_handler_over_shielded_read_norestart", c_cancel_during_handler_over_shielded_read_norestart, 10);
    run_both("shield_in_handler_outer_unshielded_restart", c_shield_in_handler_outer_unshielded_restart, 10);
    run_both("shield_in_handler_outer_unshielded_norestart", c_shield_in_handler_outer_unshielded_norestart, 10);
    run_both("cancel_lands_as_shield_ends", c_cancel_lands_as_shield_ends, 15);
    run_both("cancel_returning_1_to_shielded_call_is_kept", c_cancel_returning_1_to_shielded_call_is_kept, 15);
    run_both("join_cancelled_group_inside_shield", c_join_cancelled_group_inside_shield, 10);
    run_both("kept_cancel_once_under_handler_storm", c_kept_cancel_once_under_handler_storm, 15);
    run_both("deadlines_fire_under_cancel_rain_in_shield", c_deadlines_fire_under_cancel_rain_in_shield, 20);
    run_both("thread_exit_inside_scope", c_thread_exit_inside_scope, 10);
    run_both("fork_inside_scope", c_fork_inside_scope, 10);
    run_both("shielded_connect_cancelled", c_shielded_connect_cancelled, 10);
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
