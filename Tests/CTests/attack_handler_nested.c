/* Interruptible calls made inside an application signal handler that
 * interrupted another interruptible call on the same thread (found by an
 * outside attack). Contract (interruptio.h): such a call "runs
 * uninterruptibly: it fails at once under a sticky or group cancel or a
 * passed deadline, but neither a request nor a deadline can end it once it
 * blocks". So: a passed deadline fails it at once even with data ready;
 * a request made meanwhile is not lost: it ends the interrupted outer call
 * once the handler returns. */
/* Minimal harness: each test runs in a forked child with a timeout. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <interruptio.h>
#include <interruptio_driver.h>

static int g_pass, g_fail;
#define CHECK(c, ...) do { if (!(c)) { fprintf(stderr, "  FAIL %s:%d: %s: ", __FILE__, __LINE__, #c); \
    fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); _exit(1); } } while (0)

static uint64_t now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec; }
static void sleep_ms(int ms) { struct timespec t = { ms / 1000, (ms % 1000) * 1000000L }; while (nanosleep(&t, &t) && errno == EINTR) {} }

static void run_test(const char *name, void (*fn)(void), int timeout_s) {
    static int vb; if (!vb++) setvbuf(stdout, NULL, _IOLBF, 0);
    fflush(stdout); fflush(stderr);
    pid_t p = fork();
    if (p == 0) { fn(); fflush(stdout); _exit(0); }
    uint64_t end = now_ns() + (uint64_t)timeout_s * 1000000000ull;
    int st = 0; pid_t r;
    while ((r = waitpid(p, &st, WNOHANG)) == 0 && now_ns() < end) sleep_ms(5);
    if (r == 0) { kill(p, SIGKILL); waitpid(p, &st, 0); printf("FAIL %s (timeout: hung)\n", name); g_fail++; return; }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) { printf("ok   %s\n", name); g_pass++; }
    else { printf("FAIL %s (status %d sig %d)\n", name, WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : 0); g_fail++; }
}
static int finish(void) { printf("%d passed, %d failed\n", g_pass, g_fail); return g_fail ? 1 : 0; }

/* A thread running fn(arg) that we can wait on with a bound. */
typedef struct { pthread_t th; atomic_int done; void *(*fn)(void *); void *arg; void *ret; } job_t;
static void *job_tramp(void *p) { job_t *j = p; j->ret = j->fn(j->arg); atomic_store(&j->done, 1); return NULL; }
static void job_start(job_t *j, void *(*fn)(void *), void *arg) { j->fn = fn; j->arg = arg; atomic_store(&j->done, 0); pthread_create(&j->th, NULL, job_tramp, j); }
static int job_wait(job_t *j, int ms) { uint64_t end = now_ns() + (uint64_t)ms * 1000000ull; while (!atomic_load(&j->done)) { if (now_ns() > end) return 0; sleep_ms(1); } pthread_join(j->th, NULL); return 1; }
/* A minimal timer driver written against the documented iio_timer_* API. */
#define DRV_N 65536
static uint64_t drv_next[DRV_N];
static void *drv_main(void *a) {
    (void)a;
    iio_timer_driver_started();
    for (int i = 0; i < DRV_N; i++) drv_next[i] = IIO_NEVER;
    for (;;) {
        int64_t k;
        while ((k = iio_timer_take_notified()) >= 0) drv_next[k] = iio_timer_review((uint32_t)k, iio_now_ns());
        uint64_t now = iio_now_ns(), soon = IIO_NEVER;
        for (int i = 0; i < DRV_N; i++) {
            if (drv_next[i] != IIO_NEVER && drv_next[i] <= now) drv_next[i] = iio_timer_review(i, now);
            if (drv_next[i] < soon) soon = drv_next[i];
        }
        iio_timer_sleep(soon);
    }
    return NULL;
}
static void drv_start(void) { if (iio_timer_claim_driver() == 1) { pthread_t t; pthread_create(&t, NULL, drv_main, NULL); pthread_detach(t); } }
static void drv_install(void) { iio_init(0, 0); iio_timer_set_starter(drv_start); drv_start(); }

static int pa[2], pb[2];
static atomic_int ready, in_handler, kind, portable;
static atomic_long hres = -999, outer = -999;
static iio_thread_t tgt;

static void handler(int s) {
    (void)s; int e = errno; char c; uint64_t prev;
    in_handler = 1;
    switch (kind) {
    case 0: iio_call_deadline_swap(1, &prev); hres = iio_read(pb[0], &c, 1); iio_call_deadline_restore(prev); break;
    case 1: { uint64_t old = iio_deadline_get(); iio_deadline_set(1); hres = iio_read(pb[0], &c, 1); iio_deadline_set(old); break; }
    case 4: iio_call_deadline_swap(iio_now_ns() + 100000000ull, &prev); hres = iio_read(pb[0], &c, 1); iio_call_deadline_restore(prev); break;
    default: hres = iio_read(pb[0], &c, 1); break;
    }
    errno = e;
}
static void *reader(void *a) {
    (void)a; iio_self(&tgt); ready = 1;
    char c; outer = iio_read(pa[0], &c, 1);
    return NULL;
}
/* kind 0/1: data ready, deadline passed; 2: cancel; 3: set_for(passed);
 * 4: the nested call's own deadline (100 ms). */
static void run(int k) {
    kind = k;
    drv_install();
    if (portable) CHECK(iio_set_entry_mode(IIO_ENTRY_PORTABLE) == 0, "mode");
    CHECK(pipe(pa) == 0 && pipe(pb) == 0, "pipe");
    if (k <= 1) CHECK(write(pb[1], "x", 1) == 1, "w");
    struct sigaction sa = {0}; sa.sa_handler = handler; sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    job_t j; job_start(&j, reader, NULL);
    while (!ready) sleep_ms(1);
    sleep_ms(30);
    pthread_kill(j.th, SIGUSR1);
    while (!in_handler) sleep_ms(1);
    sleep_ms(20);
    int r = 0;
    if (k == 2) r = iio_cancel(tgt);
    if (k == 3) r = iio_deadline_set_for(tgt, 1);
    uint64_t t0 = now_ns();
    while (hres == -999 && now_ns() - t0 < 300000000ull) sleep_ms(1);
    long got = hres;
    if (k <= 1) {
        CHECK(got == -ETIMEDOUT, "call inside the handler: wanted %ld, got %ld", (long)-ETIMEDOUT, got);
        write(pa[1], "z", 1); job_wait(&j, 1000);
        return;
    }
    /* Documented: blocked, uninterruptibly; data releases it. */
    CHECK(got == -999, "call inside the handler: expected still blocked, got %ld (request returned %d)", got, r);
    CHECK(write(pb[1], "x", 1) == 1, "w");
    t0 = now_ns();
    while (hres == -999 && now_ns() - t0 < 1000000000ull) sleep_ms(1);
    CHECK(hres == 1, "call inside the handler after data: %ld", (long)hres);
    /* The request made meanwhile ends the outer call: not lost. */
    int ended = job_wait(&j, 1000);
    long want = k == 2 ? -ECANCELED : -ETIMEDOUT;
    if (!ended) { write(pa[1], "z", 1); job_wait(&j, 1000); }
    CHECK(ended && outer == want, "outer call: wanted %ld, got %s%ld", want, ended ? "" : "STILL BLOCKED; ", (long)outer);
}
static void t0(void) { run(0); }
static void t1(void) { run(1); }
static void t2(void) { run(2); }
static void t3(void) { run(3); }
static void p2(void) { portable = 1; run(2); }
static void p3(void) { portable = 1; run(3); }

int main(void) {
    run_test("handler call, passed call deadline, data ready -> ETIMEDOUT", t0, 5);
    run_test("handler call, passed thread deadline, data ready -> ETIMEDOUT", t1, 5);
    run_test("handler call blocked, iio_cancel: outer call ends -ECANCELED", t2, 5);
    run_test("handler call blocked, set_for(passed): outer call ends -ETIMEDOUT", t3, 5);
    run_test("handler call blocked, iio_cancel (portable): outer call ends -ECANCELED", p2, 5);
    run_test("handler call blocked, set_for(passed) (portable): outer call ends -ETIMEDOUT", p3, 5);
    return finish();
}
