/*
 * Outside attack, round i14: fault injection (iio_faults_*,
 * INTERRUPTIO_FAULTS). Claims attacked: nothing is lost (short counts are
 * honest, errors replace the call), an injected EINTR never surfaces from
 * any wrapper (timed waits and connect included) and timed waits keep their
 * own timeout, iio_set_entry_mode says -EBUSY while on and the previous mode
 * comes back after, enable/disable concurrent with calls on many threads,
 * and the shield.
 *   TEST_PROGRAM=attack_i14_faults Tests/CTests/build.sh /tmp/a2
 *   /tmp/a2 [case-substring]
 * Cases needing a fresh process re-execute /proc/self/exe.
 */
#include "attack_harness.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <linux/futex.h>

static int g_argc;
static char **g_argv;

/* ---- fresh-process helpers ----------------------------------------------- */

/* Runs this program again as "--env-child WHAT" with the variables given
 * ("NAME=value" strings, NULL-terminated); returns its exit status, its
 * stdout in out. */
static int run_fresh(const char *what, const char *const *vars, char *out, size_t outsz) {
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    pid_t c = fork();
    if (c == 0) {
        dup2(p[1], 1);
        close(p[0]);
        unsetenv("INTERRUPTIO_FAULTS");
        unsetenv("INTERRUPTIO_ENTRY");
        for (int i = 0; vars && vars[i]; i++)
            putenv((char *)vars[i]);
        execl("/proc/self/exe", "attack_i14_faults", "--env-child", what, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < outsz && (r = read(p[0], out + n, outsz - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    close(p[0]);
    int st;
    waitpid(c, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* In the fresh process. */
static int env_child(const char *what) {
    if (strcmp(what, "report") == 0) {
        /* iio_init reads the variable */
        int before = iio_faults_enabled();
        int i = iio_init(0, 0);
        int on = iio_faults_enabled();
        int busy = iio_set_entry_mode(IIO_ENTRY_PORTABLE);
        printf("before=%d init=%d on=%d set_mode=%d mode=%d", before, i, on, busy, iio_entry_mode());
        iio_faults_disable();
        printf(" mode_after_disable=%d\n", iio_entry_mode());
        return 0;
    }
    if (strcmp(what, "lazy") == 0) {
        /* no explicit iio_init: the first wrapper call initialises */
        int before = iio_faults_enabled();
        char b;
        int p[2];
        if (pipe(p) != 0)
            return 3;
        (void)!write(p[1], "a", 1);
        long r = iio_read(p[0], &b, 1);
        printf("before=%d after=%d r=%ld\n", before, iio_faults_enabled(), r);
        return 0;
    }
    if (strcmp(what, "enable_before_init") == 0) {
        /* INTERRUPTIO_ENTRY=portable asks for the portable entry; the test
         * enables injection before the library's lazy initialisation, then
         * disables it: the mode before (portable) must come back. */
        int e = iio_faults_enable(IIO_FAULT_SHORT, 0, 1);
        int p[2];
        if (pipe(p) != 0)
            return 3;
        char b;
        (void)!write(p[1], "a", 1);
        long r = iio_read(p[0], &b, 1);
        iio_faults_disable();
        printf("enable=%d r=%ld mode=%d\n", e, r, iio_entry_mode());
        return 0;
    }
    return 2;
}

static int parse_on(const char *out) {
    const char *p = strstr(out, "on=");
    return p ? atoi(p + 3) : -1;
}

/* ---- cases: environment ---------------------------------------------------- */

static void c_env_well_formed_turns_it_on(void) {
    char out[512];
    const char *v[] = {"INTERRUPTIO_FAULTS=rate=0.05,seed=42,kinds=short+eintr+canceled+timedout", NULL};
    int st = run_fresh("report", v, out, sizeof out);
    CHECK(st == 0, "child status %d: %s", st, out);
    CHECK(parse_on(out) == 1, "well-formed value left it off: %s", out);
    CHECK(strstr(out, "set_mode=-16"), "set_entry_mode not -EBUSY while on: %s", out);
    if (iio_pc_window_available())
        CHECK(strstr(out, "mode_after_disable=0"), "the default mode did not come back after disable: %s", out);
    const char *v3[] = {"INTERRUPTIO_FAULTS=rate=0.5", "INTERRUPTIO_ENTRY=portable", NULL};
    st = run_fresh("report", v3, out, sizeof out);
    CHECK(strstr(out, "mode_after_disable=1"), "INTERRUPTIO_ENTRY=portable did not come back after disable: %s", out);
    const char *v2[] = {"INTERRUPTIO_FAULTS=rate=1", NULL};
    st = run_fresh("report", v2, out, sizeof out);
    CHECK(parse_on(out) == 1, "rate=1 alone: %s", out);
}

static void check_malformed(const char *value) {
    char out[512], var[300];
    snprintf(var, sizeof var, "INTERRUPTIO_FAULTS=%s", value);
    const char *v[] = {var, NULL};
    int st = run_fresh("report", v, out, sizeof out);
    CHECK(st == 0, "child status %d", st);
    CHECK(parse_on(out) == 0, "malformed INTERRUPTIO_FAULTS=\"%s\" turned injection on (\"a malformed value "
                              "leaves it off\"): %s", value, out);
}
static void c_env_malformed_values_leave_it_off(void) {
    const char *bad[] = {"rate=2", "rate=abc", "rate=0.5,kinds=", "rate=0.5,kinds=short+bogus",
                         "rate=0.5,bogus=1", "seed=7", "rate=-0.1", "rate=0.5x", "rate=nan",
                         "rate=0.5,seed=12q", NULL};
    for (int i = 0; bad[i]; i++)
        check_malformed(bad[i]);
}
static void c_env_empty_rate_is_malformed(void) { check_malformed("rate="); }
static void c_env_empty_seed_is_malformed(void) { check_malformed("rate=0.5,seed="); }

static void c_env_read_by_lazy_init(void) {
    char out[512];
    const char *v[] = {"INTERRUPTIO_FAULTS=rate=1,kinds=canceled", NULL};
    int st = run_fresh("lazy", v, out, sizeof out);
    CHECK(st == 0, "child %d", st);
    CHECK(strstr(out, "after=1") && strstr(out, "r=-125"), "lazy init did not apply the variable: %s", out);
}

static void c_mode_before_enable_prior_to_init(void) {
    char out[512];
    const char *v[] = {"INTERRUPTIO_ENTRY=portable", NULL};
    int st = run_fresh("enable_before_init", v, out, sizeof out);
    CHECK(st == 0, "child %d", st);
    CHECK(strstr(out, "mode=1"), "INTERRUPTIO_ENTRY=portable, injection enabled before the first call and "
                                 "disabled after it: the mode that came back is not portable: %s", out);
}

/* ---- cases: API ------------------------------------------------------------- */

static void c_api_counts_and_bad_arguments(void) {
    iio_init(0, 0);
    CHECK(iio_faults_enable(0, 10, 1) == -EINVAL, "no kind");
    CHECK(iio_faults_enable(16, 10, 1) == -EINVAL, "unknown kind");
    CHECK(iio_faults_enable(IIO_FAULT_ALL, 1000001, 1) == -EINVAL, "rate above 1e6");
    CHECK(iio_faults_enabled() == 0, "bad enable turned it on");
    iio_faults_counts(NULL);
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    CHECK(iio_faults_enable(IIO_FAULT_CANCELED, 1000000, 5) == 0, "enable");
    CHECK(iio_faults_enabled() == 1, "enabled");
    char b;
    for (int i = 0; i < 100; i++) {
        long r = iio_read(p[0], &b, 1);
        CHECK(r == -ECANCELED, "rate 1e6 canceled: read %d returned %ld", i, r);
    }
    iio_fault_counts_t c;
    iio_faults_counts(&c);
    CHECK(c.calls == 100 && c.cancels == 100 && c.short_counts == 0 && c.eintrs == 0 && c.timeouts == 0,
          "counts %lu %lu %lu %lu %lu", (unsigned long)c.calls, (unsigned long)c.short_counts,
          (unsigned long)c.eintrs, (unsigned long)c.cancels, (unsigned long)c.timeouts);
    /* enabling again zeroes the counts */
    CHECK(iio_faults_enable(IIO_FAULT_ALL, 0, 5) == 0, "enable again");
    iio_faults_counts(&c);
    CHECK(c.calls == 0 && c.cancels == 0, "counts not zeroed");
    CHECK(write(p[1], "abc", 3) == 3, "w");
    CHECK(iio_read(p[0], &b, 1) == 1, "rate 0 injected");
    iio_faults_counts(&c);
    CHECK(c.calls == 1, "calls %lu", (unsigned long)c.calls);
    iio_faults_disable();
    CHECK(iio_faults_enabled() == 0, "disabled");
    CHECK(iio_read(p[0], &b, 1) == 1, "read after disable");
    iio_faults_disable(); /* twice: no effect */
}

static void c_entry_mode_busy_and_restored(void) {
    iio_init(0, 0);
    int pcw = iio_pc_window_available();
    int modes[2] = {IIO_ENTRY_PORTABLE, IIO_ENTRY_PC_WINDOW};
    for (int k = 0; k < (pcw ? 2 : 1); k++) {
        CHECK(iio_set_entry_mode(modes[k]) == 0, "set %d", modes[k]);
        CHECK(iio_faults_enable(IIO_FAULT_SHORT, 1000, 1) == 0, "enable");
        CHECK(iio_entry_mode() == IIO_ENTRY_PORTABLE, "mode while on %d", iio_entry_mode());
        CHECK(iio_set_entry_mode(IIO_ENTRY_PC_WINDOW) == -EBUSY, "set while on");
        CHECK(iio_set_entry_mode(IIO_ENTRY_PORTABLE) == -EBUSY, "set portable while on");
        CHECK(iio_faults_enable(IIO_FAULT_EINTR, 1000, 2) == 0, "enable again");
        iio_faults_disable();
        CHECK(iio_entry_mode() == modes[k], "mode after disable %d, want %d", iio_entry_mode(), modes[k]);
        CHECK(iio_set_entry_mode(modes[1 - k]) == 0 || !pcw, "set after");
    }
}

/* Toggling injection while threads set the entry mode: after the last
 * disable, the mode is the last one a successful iio_set_entry_mode set. */
static _Atomic int tm_stop;
static _Atomic int tm_last = IIO_ENTRY_PC_WINDOW;
static pthread_mutex_t tm_lock = PTHREAD_MUTEX_INITIALIZER;
static void *tm_setter(void *a) {
    unsigned k = (unsigned)(uintptr_t)a;
    while (!atomic_load(&tm_stop)) {
        int m = (int)(k++ & 1);
        pthread_mutex_lock(&tm_lock);
        if (iio_set_entry_mode(m) == 0)
            atomic_store(&tm_last, m);
        pthread_mutex_unlock(&tm_lock);
    }
    return NULL;
}
static void *tm_toggler(void *a) {
    (void)a;
    while (!atomic_load(&tm_stop)) {
        iio_faults_enable(IIO_FAULT_ALL, 100000, 3);
        sched_yield();
        iio_faults_disable();
    }
    return NULL;
}
static void c_entry_mode_vs_toggling(void) {
    iio_init(0, 0);
    if (!iio_pc_window_available())
        return;
    iio_set_entry_mode(IIO_ENTRY_PC_WINDOW);
    pthread_t s1, s2, t1, t2;
    pthread_create(&s1, NULL, tm_setter, (void *)0);
    pthread_create(&s2, NULL, tm_setter, (void *)1);
    pthread_create(&t1, NULL, tm_toggler, NULL);
    pthread_create(&t2, NULL, tm_toggler, NULL);
    sleep_us(800000);
    atomic_store(&tm_stop, 1);
    pthread_join(s1, NULL);
    pthread_join(s2, NULL);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    iio_faults_disable();
    CHECK(iio_faults_enabled() == 0, "still on");
    CHECK(iio_entry_mode() == atomic_load(&tm_last), "mode after toggling %d, last set %d", iio_entry_mode(),
          (int)atomic_load(&tm_last));
}

/* ---- cases: nothing is lost ------------------------------------------------ */

/* A short count on a datagram socket: recv with a smaller buffer discards
 * the rest of the datagram. */
static void dgram_case(int type, int use_read) {
    iio_init(0, 0);
    int sv[2];
    CHECK(socketpair(AF_UNIX, type, 0, sv) == 0, "socketpair");
    char msg[100];
    for (int i = 0; i < 5; i++) {
        memset(msg, 'a' + i, sizeof msg);
        CHECK(send(sv[0], msg, sizeof msg, 0) == 100, "send");
    }
    CHECK(iio_faults_enable(IIO_FAULT_SHORT, 1000000, 9) == 0, "enable");
    long total = 0;
    char buf[100];
    for (int i = 0; i < 5; i++) {
        long r = use_read ? iio_read(sv[1], buf, sizeof buf) : iio_recv(sv[1], buf, sizeof buf, 0);
        CHECK(r > 0, "recv %ld", r);
        total += r;
    }
    iio_faults_disable();
    CHECK(total == 500, "5 datagrams of 100 bytes read with a 100-byte buffer under injected short counts: "
                        "%ld bytes arrived, %ld were discarded by the kernel (the rest of each datagram): "
                        "a short count lost data", total, 500 - total);
}
static void c_short_count_loses_datagram_tail_recv(void) { dgram_case(SOCK_DGRAM, 0); }
static void c_short_count_loses_seqpacket_tail_read(void) { dgram_case(SOCK_SEQPACKET, 1); }

/* A short send on a datagram socket: a real send never splits a datagram;
 * under injection the peer receives fragments as separate messages. */
static void c_short_send_splits_datagrams(void) {
    iio_init(0, 0);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0, "socketpair");
    char msg[100];
    memset(msg, 'm', sizeof msg);
    CHECK(iio_faults_enable(IIO_FAULT_SHORT, 1000000, 3) == 0, "enable");
    int sends = 0;
    for (int i = 0; i < 5; i++) {
        size_t off = 0;
        while (off < sizeof msg) {
            long r = iio_send(sv[0], msg + off, sizeof msg - off, 0);
            CHECK(r > 0, "send %ld", r);
            off += (size_t)r;
            sends++;
        }
    }
    iio_faults_disable();
    int msgs = 0;
    char buf[200];
    while (recv(sv[1], buf, sizeof buf, MSG_DONTWAIT) > 0)
        msgs++;
    CHECK(msgs == 5, "5 messages of 100 bytes sent with iio_send (resuming at each short count) arrived as "
                     "%d messages: injected short counts split datagrams, which a real send never does", msgs);
}

/* eventfd: a read with fewer than 8 bytes is EINVAL. A short count turns a
 * correct read into an error that is not among the injected kinds. */
static void c_short_count_on_eventfd_gives_einval(void) {
    iio_init(0, 0);
    int e = eventfd(0, 0);
    CHECK(e >= 0, "eventfd");
    CHECK(iio_faults_enable(IIO_FAULT_SHORT, 1000000, 1) == 0, "enable");
    uint64_t one = 1, v = 0;
    long w = iio_write(e, &one, 8);
    long r = iio_read(e, &v, 8);
    iio_faults_disable();
    CHECK(w == 8 && r == 8, "eventfd write %ld / read %ld under short counts: -22 is EINVAL, which neither the "
                            "call nor the injected kinds can produce", w, r);
}

/* The stream survives every kind with injection toggled on and off (and
 * re-enabled with new seeds) by another thread while 3 pipes stream. */
#define NPAIR 3
#define WORDS 60000
static int sp[NPAIR][2];
static _Atomic long eintr_seen, odd_seen;
static void *stream_writer(void *a) {
    int k = (int)(intptr_t)a;
    uint32_t buf[256];
    uint32_t next = 0;
    size_t pending_off = 0, pending_len = 0;
    unsigned char *bytes = (unsigned char *)buf;
    while (next < WORDS || pending_len) {
        if (!pending_len) {
            int n = 0;
            while (n < 256 && next < WORDS)
                buf[n++] = next++;
            pending_off = 0;
            pending_len = (size_t)n * 4;
        }
        long r;
        if (k == 1) {
            struct iovec iov[2] = {{bytes + pending_off, pending_len / 2},
                                   {bytes + pending_off + pending_len / 2, pending_len - pending_len / 2}};
            r = iio_writev(sp[k][1], iov, pending_len > 1 ? 2 : 1);
        } else
            r = iio_write(sp[k][1], bytes + pending_off, pending_len);
        if (r == -EINTR)
            atomic_fetch_add(&eintr_seen, 1);
        if (r > 0) {
            pending_off += (size_t)r;
            pending_len -= (size_t)r;
        } else if (r != -ECANCELED && r != -ETIMEDOUT)
            atomic_fetch_add(&odd_seen, 1);
    }
    return NULL;
}
static _Atomic long stream_bad;
static void *stream_reader(void *a) {
    int k = (int)(intptr_t)a;
    unsigned char buf[1024];
    uint32_t expect = 0;
    unsigned char partial[4];
    int have = 0;
    while (expect < WORDS) {
        long r;
        if (k == 2) {
            struct iovec iov[2] = {{buf, 300}, {buf + 300, 700}};
            r = iio_readv(sp[k][0], iov, 2);
        } else
            r = iio_read(sp[k][0], buf, sizeof buf);
        if (r == -EINTR)
            atomic_fetch_add(&eintr_seen, 1);
        if (r <= 0) {
            if (r != -ECANCELED && r != -ETIMEDOUT)
                atomic_fetch_add(&odd_seen, 1);
            if (r == 0)
                break;
            continue;
        }
        for (long i = 0; i < r; i++) {
            partial[have++] = buf[i];
            if (have == 4) {
                uint32_t w;
                memcpy(&w, partial, 4);
                if (w != expect)
                    atomic_fetch_add(&stream_bad, 1);
                expect++;
                have = 0;
            }
        }
    }
    return NULL;
}
static _Atomic int toggle_stop;
static void *toggler(void *a) {
    (void)a;
    uint64_t seed = 1;
    while (!atomic_load(&toggle_stop)) {
        iio_faults_enable(IIO_FAULT_ALL, 200000, seed++);
        sleep_us(300);
        if (seed % 3)
            iio_faults_enable(IIO_FAULT_SHORT | IIO_FAULT_EINTR, 500000, seed++);
        sleep_us(300);
        iio_faults_disable();
        sleep_us(200);
    }
    return NULL;
}
static void c_stream_survives_toggling_on_many_threads(void) {
    iio_init(0, 0);
    int mode0 = iio_entry_mode();
    pthread_t w[NPAIR], r[NPAIR], t;
    for (int k = 0; k < NPAIR; k++) {
        CHECK(pipe(sp[k]) == 0, "pipe");
        fcntl(sp[k][1], F_SETPIPE_SZ, 4096);
    }
    pthread_create(&t, NULL, toggler, NULL);
    for (int k = 0; k < NPAIR; k++) {
        pthread_create(&w[k], NULL, stream_writer, (void *)(intptr_t)k);
        pthread_create(&r[k], NULL, stream_reader, (void *)(intptr_t)k);
    }
    for (int k = 0; k < NPAIR; k++) {
        pthread_join(w[k], NULL);
        pthread_join(r[k], NULL);
    }
    atomic_store(&toggle_stop, 1);
    pthread_join(t, NULL);
    iio_faults_disable();
    CHECK(eintr_seen == 0, "%ld injected EINTRs surfaced", (long)eintr_seen);
    CHECK(odd_seen == 0, "%ld results outside {count, -ECANCELED, -ETIMEDOUT}", (long)odd_seen);
    CHECK(stream_bad == 0, "%ld words out of order or lost", (long)stream_bad);
    CHECK(iio_entry_mode() == mode0, "mode %d after, was %d", iio_entry_mode(), mode0);
}

/* Zero-copy transfers under short counts report exactly what moved. */
static void c_zero_copy_short_counts_honest(void) {
    iio_init(0, 0);
    char path[] = "/tmp/i14fXXXXXX", path2[] = "/tmp/i14gXXXXXX";
    int f = mkstemp(path), g = mkstemp(path2);
    CHECK(f >= 0 && g >= 0, "mkstemp");
    unlink(path);
    unlink(path2);
    static unsigned char data[65536];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 7 + 3);
    CHECK(write(f, data, sizeof data) == (ssize_t)sizeof data, "fill");
    CHECK(iio_faults_enable(IIO_FAULT_SHORT, 1000000, 77) == 0, "enable");
    /* copy_file_range f -> g with offsets */
    int64_t in = 0, outo = 0;
    int shorts = 0;
    while (in < (int64_t)sizeof data) {
        int64_t before = in;
        long r = iio_copy_file_range(f, &in, g, &outo, sizeof data - (size_t)in, 0);
        CHECK(r > 0, "copy_file_range %ld", r);
        CHECK(in - before == r && outo == in, "offset advanced %ld for a count of %ld", (long)(in - before), r);
        if (r < (long)(sizeof data - (size_t)before))
            shorts++;
    }
    static unsigned char back[65536];
    CHECK(pread(g, back, sizeof back, 0) == (ssize_t)sizeof back && memcmp(back, data, sizeof data) == 0,
          "copy_file_range content");
    /* sendfile f -> pipe, splice pipe -> pipe2, tee pipe2 -> pipe3, read */
    int a[2], b[2], c[2];
    CHECK(pipe(a) == 0 && pipe(b) == 0 && pipe(c) == 0, "pipes");
    int64_t off = 0;
    size_t got = 0;
    while (got < sizeof data) {
        int64_t o0 = off;
        long r = iio_sendfile(a[1], f, &off, 4096);
        CHECK(r > 0 && off - o0 == r, "sendfile %ld, offset moved %ld", r, (long)(off - o0));
        long moved = 0;
        while (moved < r) {
            long s = iio_splice(a[0], NULL, b[1], NULL, (size_t)(r - moved), 0);
            CHECK(s > 0, "splice %ld", s);
            moved += s;
        }
        long t = iio_tee(b[0], c[1], (size_t)r, 0);
        CHECK(t > 0 && t <= r, "tee %ld", t);
        /* what tee copied is in c; b still holds all r */
        unsigned char tmp[4096];
        long n = 0;
        while (n < t) {
            long x = iio_read(c[0], tmp + n, (size_t)(t - n));
            CHECK(x > 0, "read c %ld", x);
            n += x;
        }
        CHECK(memcmp(tmp, data + got, (size_t)t) == 0, "tee content");
        n = 0;
        while (n < r) {
            long x = iio_read(b[0], tmp + n, (size_t)(r - n));
            CHECK(x > 0, "read b %ld", x);
            n += x;
        }
        CHECK(memcmp(tmp, data + got, (size_t)r) == 0, "splice content at %zu", got);
        got += (size_t)r;
    }
    iio_fault_counts_t k;
    iio_faults_counts(&k);
    iio_faults_disable();
    CHECK(k.short_counts > 10 && shorts > 0, "short counts injected %lu", (unsigned long)k.short_counts);
}

/* ---- cases: no EINTR surfaces, own timeouts kept ----------------------------- */

static void usr1(int s) { (void)s; }

struct tw_result {
    long r;
    uint64_t took;
};
/* which: 0 poll, 1 ppoll, 2 select, 3 pselect, 4 epoll_wait, 5 epoll_pwait2,
 * 6 sigtimedwait, 7 clock_nanosleep rel, 8 sleep_until; 50 ms each */
static struct tw_result timed_wait(int which, int rfd) {
    struct pollfd pfd = {rfd, POLLIN, 0};
    struct timespec ts = {0, 50000000};
    uint64_t t0 = now_ns();
    long r = -999;
    fd_set set;
    FD_ZERO(&set);
    FD_SET(rfd, &set);
    static int ep = -1;
    if (ep < 0) {
        ep = epoll_create1(0);
        struct epoll_event ev = {.events = EPOLLIN};
        epoll_ctl(ep, EPOLL_CTL_ADD, rfd, &ev);
    }
    struct epoll_event ev;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    switch (which) {
    case 0: r = iio_poll(&pfd, 1, 50); break;
    case 1: r = iio_ppoll(&pfd, 1, &ts, NULL); break;
    case 2: r = iio_select(rfd + 1, &set, NULL, NULL, &(struct timeval){0, 50000}); break;
    case 3: r = iio_pselect(rfd + 1, &set, NULL, NULL, &ts, NULL); break;
    case 4: r = iio_epoll_wait(ep, &ev, 1, 50); break;
    case 5: r = iio_epoll_pwait2(ep, &ev, 1, &ts, NULL); break;
    case 6: r = iio_sigtimedwait(&s, NULL, &ts); break;
    case 7: r = iio_clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL); break;
    case 8: r = iio_sleep_until(iio_now_ns() + 50000000ull); break;
    }
    return (struct tw_result){r, now_ns() - t0};
}
static const char *tw_name[] = {"poll", "ppoll", "select", "pselect", "epoll_wait", "epoll_pwait2",
                                "sigtimedwait", "clock_nanosleep", "sleep_until"};

static void c_injected_eintr_never_surfaces_timed_waits(void) {
    iio_init(0, 0);
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    CHECK(iio_faults_enable(IIO_FAULT_EINTR, 500000, 11) == 0, "enable");
    for (int w = 0; w < 9; w++) {
        for (int i = 0; i < 6; i++) {
            struct tw_result t = timed_wait(w, p[0]);
            long want = w == 6 ? -EAGAIN : 0;
            CHECK(t.r == want, "%s under injected EINTRs returned %ld, want %ld", tw_name[w], t.r, want);
            CHECK(t.took >= 49000000ull && t.took < 400000000ull, "%s took %.3f s for a 50 ms timeout",
                  tw_name[w], t.took / 1e9);
        }
    }
    iio_fault_counts_t k;
    iio_faults_counts(&k);
    iio_faults_disable();
    CHECK(k.eintrs > 20, "eintrs injected %lu", (unsigned long)k.eintrs);
}

/* Every kind on: timed waits return only 0/-EAGAIN (own timeout),
 * -ECANCELED or -ETIMEDOUT (injected), and never after their own timeout. */
static void c_all_kinds_timed_waits_results(void) {
    iio_init(0, 0);
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    CHECK(iio_faults_enable(IIO_FAULT_ALL, 400000, 12) == 0, "enable");
    for (int w = 0; w < 9; w++) {
        for (int i = 0; i < 6; i++) {
            struct tw_result t = timed_wait(w, p[0]);
            long own = w == 6 ? -EAGAIN : 0;
            CHECK(t.r == own || t.r == -ECANCELED || t.r == -ETIMEDOUT, "%s returned %ld", tw_name[w], t.r);
            CHECK(t.took < 400000000ull, "%s took %.3f s", tw_name[w], t.took / 1e9);
        }
    }
    iio_faults_disable();
}

/* rate 1,000,000 (allowed) with only EINTR: a 50 ms poll never makes its
 * system call; its own timeout must still end it. */
static void c_rate_one_eintr_poll_keeps_own_timeout(void) {
    iio_init(0, 0);
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    CHECK(iio_faults_enable(IIO_FAULT_EINTR, 1000000, 1) == 0, "enable");
    struct pollfd pfd = {p[0], POLLIN, 0};
    uint64_t t0 = now_ns();
    int r = iio_poll(&pfd, 1, 50);
    uint64_t took = now_ns() - t0;
    iio_faults_disable();
    CHECK(r == 0 && took < 1000000000ull, "poll r=%d took %.3f", r, took / 1e9);
}

/* Other wrappers under injected EINTRs: none surfaces. */
static void c_injected_eintr_never_surfaces_other_wrappers(void) {
    iio_init(0, 0);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(l, (void *)&a, sizeof a) == 0, "bind");
    socklen_t al = sizeof a;
    getsockname(l, (void *)&a, &al);
    CHECK(listen(l, 128) == 0, "listen");
    char tmpl[] = "/tmp/i14lXXXXXX";
    int lf = mkstemp(tmpl);
    unlink(tmpl);
    CHECK(iio_faults_enable(IIO_FAULT_EINTR, 600000, 21) == 0, "enable");
    for (int i = 0; i < 40; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        int r = iio_connect(s, (void *)&a, sizeof a);
        CHECK(r == 0, "connect %d", r);
        CHECK(iio_connect_finish(s) == 0, "finish");
        int acc = iio_accept4(l, NULL, NULL, SOCK_CLOEXEC);
        CHECK(acc >= 0, "accept %d", acc);
        close(acc);
        close(s);
        pid_t c = fork();
        if (c == 0)
            _exit(7);
        int st = 0;
        pid_t w = iio_waitpid(c, &st, 0);
        CHECK(w == c && WEXITSTATUS(st) == 7, "waitpid %d", (int)w);
        CHECK(iio_flock(lf, LOCK_EX) == 0, "flock");
        CHECK(iio_flock(lf, LOCK_UN) == 0, "unflock");
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        CHECK(iio_fcntl_lock(lf, F_OFD_SETLKW, &fl) == 0, "ofd lock");
        fl.l_type = F_UNLCK;
        CHECK(iio_fcntl_lock(lf, F_OFD_SETLK, &fl) == 0, "ofd unlock");
        uint32_t word = 1;
        CHECK(iio_futex_wait(&word, 2, 0) == -EAGAIN, "futex");
        CHECK(iio_syscall(SYS_getppid, 0, 0, 0, 0, 0, 0) == getppid(), "syscall");
        int fd = iio_openat(AT_FDCWD, "/dev/null", O_RDONLY, 0);
        CHECK(fd >= 0, "openat %d", fd);
        close(fd);
    }
    iio_faults_disable();
}

/* connect under every kind: an injected error means connect never ran
 * (iio_connect_finish says -ENOTCONN); 0 means connected. */
static void c_connect_under_all_kinds(void) {
    iio_init(0, 0);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(l, (void *)&a, sizeof a) == 0, "bind");
    socklen_t al = sizeof a;
    getsockname(l, (void *)&a, &al);
    CHECK(listen(l, 256) == 0, "listen");
    CHECK(iio_faults_enable(IIO_FAULT_ALL, 500000, 31) == 0, "enable");
    int errs = 0;
    for (int i = 0; i < 60; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        int r = iio_connect(s, (void *)&a, sizeof a);
        CHECK(r == 0 || r == -ECANCELED || r == -ETIMEDOUT, "connect %d", r);
        if (r != 0) {
            errs++;
            iio_faults_disable();
            int f = iio_connect_finish(s);
            CHECK(f == -ENOTCONN, "connect returned injected %d, but finish says %d (the call was made?)", r, f);
            iio_faults_enable(IIO_FAULT_ALL, 500000, 31 + (uint64_t)i);
        } else {
            struct sockaddr_in peer;
            socklen_t pl = sizeof peer;
            CHECK(getpeername(s, (void *)&peer, &pl) == 0, "0 but not connected");
            int acc = accept(l, NULL, NULL);
            close(acc);
        }
        close(s);
    }
    iio_faults_disable();
    CHECK(errs > 0, "no injected errors");
}

/* One seed, one sequence per thread: re-enabling with the same seed gives
 * the first thread to draw the same faults again (also a new thread). */
static int det_pipe[2];
static long det_seq[3][120];
static void det_run(long *out) {
    static char buf[64];
    for (int i = 0; i < 120; i++)
        out[i] = iio_read(det_pipe[0], buf, 8);
}
static void *det_thread(void *a) {
    det_run((long *)a);
    return NULL;
}
static void c_same_seed_same_sequence(void) {
    iio_init(0, 0);
    CHECK(pipe(det_pipe) == 0, "pipe");
    fcntl(det_pipe[1], F_SETPIPE_SZ, 1 << 20);
    static char big[65536];
    for (int i = 0; i < 8; i++)
        CHECK(write(det_pipe[1], big, sizeof big) == (ssize_t)sizeof big, "fill");
    CHECK(iio_faults_enable(IIO_FAULT_ALL, 300000, 99) == 0, "enable");
    det_run(det_seq[0]);
    CHECK(iio_faults_enable(IIO_FAULT_ALL, 300000, 99) == 0, "enable");
    det_run(det_seq[1]);
    CHECK(iio_faults_enable(IIO_FAULT_ALL, 300000, 99) == 0, "enable");
    pthread_t t;
    pthread_create(&t, NULL, det_thread, det_seq[2]);
    pthread_join(t, NULL);
    iio_faults_disable();
    int faults = 0;
    for (int i = 0; i < 120; i++) {
        CHECK(det_seq[0][i] == det_seq[1][i], "call %d: %ld then %ld with the same seed", i, det_seq[0][i],
              det_seq[1][i]);
        CHECK(det_seq[0][i] == det_seq[2][i], "call %d: %ld, in a new thread %ld", i, det_seq[0][i], det_seq[2][i]);
        faults += det_seq[0][i] != 8;
    }
    CHECK(faults > 10, "faults %d", faults);
}

/* ---- cases: shield ---------------------------------------------------------- */

/* A call inside a shield is never ended by a cancel (P6). Injection's
 * -ECANCELED stands for a cancel: inside a shield it is a result no real
 * run can produce. */
static void c_injected_cancel_inside_shield(void) {
    iio_init(0, 0);
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    CHECK(write(p[1], "abcdefgh", 8) == 8, "w");
    CHECK(iio_faults_enable(IIO_FAULT_CANCELED, 500000, 41) == 0, "enable");
    iio_shield_begin();
    int bad = 0;
    char b;
    for (int i = 0; i < 8; i++) {
        long r = iio_read(p[0], &b, 1);
        if (r == -ECANCELED)
            bad++;
        else
            CHECK(r == 1, "read %ld", r);
    }
    iio_shield_end();
    iio_faults_disable();
    CHECK(bad == 0, "%d of 8 shielded reads returned an injected -ECANCELED (a shielded call is never "
                    "ended by a cancel)", bad);
}

/* A thread blocked in a PC-window call when injection is turned on, and one
 * blocked in a portable call (under injection) when it is turned off: a
 * cancel reaches both. */
struct blk {
    int rfd;
    iio_thread_t self;
    _Atomic int have;
    long r;
    _Atomic int done;
};
static void *blk_fn(void *a) {
    struct blk *b = a;
    iio_self(&b->self);
    atomic_store(&b->have, 1);
    char c;
    b->r = iio_read(b->rfd, &c, 1);
    atomic_store(&b->done, 1);
    return NULL;
}
static void c_cancel_reaches_calls_across_toggle(void) {
    iio_init(0, 0);
    int pcw = iio_pc_window_available();
    if (pcw)
        iio_set_entry_mode(IIO_ENTRY_PC_WINDOW);
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    struct blk b1 = {.rfd = p[0]};
    pthread_t t;
    pthread_create(&t, NULL, blk_fn, &b1);
    while (!b1.have)
        sleep_us(100);
    sleep_us(50000);
    CHECK(iio_faults_enable(IIO_FAULT_SHORT, 0, 1) == 0, "enable");
    CHECK(iio_cancel(b1.self) == 1, "cancel");
    for (int i = 0; i < 200 && !b1.done; i++)
        sleep_us(5000);
    CHECK(b1.done && b1.r == -ECANCELED, "PC-window call started before enable: done %d r %ld", b1.done, b1.r);
    pthread_join(t, NULL);
    struct blk b2 = {.rfd = p[0]};
    pthread_create(&t, NULL, blk_fn, &b2);
    while (!b2.have)
        sleep_us(100);
    sleep_us(50000);
    iio_faults_disable();
    CHECK(iio_cancel(b2.self) == 1, "cancel 2");
    for (int i = 0; i < 200 && !b2.done; i++)
        sleep_us(5000);
    CHECK(b2.done && b2.r == -ECANCELED, "portable call started under injection: done %d r %ld", b2.done, b2.r);
    pthread_join(t, NULL);
}

int main(int argc, char **argv) {
    g_argc = argc;
    g_argv = argv;
    if (argc > 2 && strcmp(argv[1], "--env-child") == 0)
        return env_child(argv[2]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    g_filter = argc > 1 ? argv[1] : NULL;
    run_case("env_well_formed_turns_it_on", c_env_well_formed_turns_it_on, 10);
    run_case("env_malformed_values_leave_it_off", c_env_malformed_values_leave_it_off, 20);
    run_case("env_empty_rate_is_malformed", c_env_empty_rate_is_malformed, 10);
    run_case("env_empty_seed_is_malformed", c_env_empty_seed_is_malformed, 10);
    run_case("env_read_by_lazy_init", c_env_read_by_lazy_init, 10);
    run_case("mode_before_enable_prior_to_init", c_mode_before_enable_prior_to_init, 10);
    run_case("api_counts_and_bad_arguments", c_api_counts_and_bad_arguments, 10);
    run_case("entry_mode_busy_and_restored", c_entry_mode_busy_and_restored, 10);
    run_case("entry_mode_vs_toggling", c_entry_mode_vs_toggling, 10);
    run_case("short_count_loses_datagram_tail_recv", c_short_count_loses_datagram_tail_recv, 10);
    run_case("short_count_loses_seqpacket_tail_read", c_short_count_loses_seqpacket_tail_read, 10);
    run_case("short_send_splits_datagrams", c_short_send_splits_datagrams, 10);
    run_case("short_count_on_eventfd_gives_einval", c_short_count_on_eventfd_gives_einval, 10);
    run_case("stream_survives_toggling_on_many_threads", c_stream_survives_toggling_on_many_threads, 60);
    run_case("zero_copy_short_counts_honest", c_zero_copy_short_counts_honest, 20);
    run_case("injected_eintr_never_surfaces_timed_waits", c_injected_eintr_never_surfaces_timed_waits, 20);
    run_case("all_kinds_timed_waits_results", c_all_kinds_timed_waits_results, 20);
    run_case("rate_one_eintr_poll_keeps_own_timeout", c_rate_one_eintr_poll_keeps_own_timeout, 5);
    run_case("injected_eintr_never_surfaces_other_wrappers", c_injected_eintr_never_surfaces_other_wrappers, 30);
    run_case("connect_under_all_kinds", c_connect_under_all_kinds, 20);
    run_case("same_seed_same_sequence", c_same_seed_same_sequence, 10);
    run_case("injected_cancel_inside_shield", c_injected_cancel_inside_shield, 10);
    run_case("cancel_reaches_calls_across_toggle", c_cancel_reaches_calls_across_toggle, 10);
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
