/*
 * The plain C test programs' harness (test_interruptio.c, test_calls.c):
 * CHECK / CHECK_EQ record a failure and go on, RUN runs one test unless
 * INTERRUPTIO_SKIP names it (reported as skipped, never as passed), and a
 * watchdog fails the whole program when nothing progresses (TICK) for
 * WATCHDOG_QUIET_S seconds: a call that hangs; start_call runs one
 * blocking call on a thread of its own.
 */
#ifndef TEST_HARNESS_H
#define TEST_HARNESS_H

#include <interruptio.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef WATCHDOG_QUIET_S
#define WATCHDOG_QUIET_S 20

#endif

static int passed, failed, skipped;
static const char *current_test;

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "  FAIL %s:%d (%s): %s\n", __FILE__, __LINE__,    \
                    current_test, #cond);                                     \
            test_ok = false;                                                  \
        }                                                                     \
    } while (0)
#define CHECK_EQ(a, b)                                                        \
    do {                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                   \
        if (a_ != b_) {                                                       \
            fprintf(stderr, "  FAIL %s:%d (%s): %s == %lld, expected %lld\n", \
                    __FILE__, __LINE__, current_test, #a, a_, b_);            \
            test_ok = false;                                                  \
        }                                                                     \
    } while (0)

static bool test_ok;
static bool skip_requested(const char *name) {
    const char *list = getenv("INTERRUPTIO_SKIP");
    if (!list)
        return false;
    size_t len = strlen(name);
    for (const char *p = strstr(list, name); p; p = strstr(p + 1, name))
        if ((p == list || p[-1] == ',') && (p[len] == ',' || p[len] == '\0'))
            return true;
    return false;
}

#define RUN(fn)                                                               \
    do {                                                                      \
        current_test = #fn;                                                   \
        if (skip_requested(#fn)) {                                            \
            skipped++;                                                        \
            printf("skip %s\n", #fn);                                         \
            break;                                                            \
        }                                                                     \
        test_ok = true;                                                       \
        fn();                                                                 \
        if (test_ok) {                                                        \
            passed++;                                                         \
            printf("ok   %s\n", #fn);                                         \
        } else {                                                              \
            failed++;                                                         \
            printf("FAIL %s\n", #fn);                                         \
        }                                                                     \
        fflush(stdout);                                                       \
    } while (0)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


/* ---- Watchdog: any test that hangs fails the whole program ------------- */

static _Atomic long progress;
static void *watchdog(void *arg) {
    (void)arg;
    long last = -1;
    int quiet = 0;
    for (;;) {
        sleep(1);
        long p = atomic_load(&progress);
        quiet = p == last ? quiet + 1 : 0;
        last = p;
        if (quiet >= WATCHDOG_QUIET_S) {
            fprintf(stderr, "watchdog: no progress for %d s in %s: a call "
                            "hangs\n", WATCHDOG_QUIET_S, current_test);
            _exit(3);
        }
    }
    return NULL;
}
#define TICK() atomic_fetch_add(&progress, 1)

/* ---- A helper thread that runs one blocking call ----------------------- */

typedef long (*blocking_fn)(void *arg);
struct blocked_call {
    blocking_fn fn;
    void *arg;
    pthread_t thread;
    iio_thread_t handle;
    _Atomic int ready;
    _Atomic int done;
    long result;
    uint64_t returned_ns; /* iio_now_ns() when it returned */
    double returned_at;   /* now_s() then */
};

static void *blocked_call_main(void *p) {
    struct blocked_call *c = p;
    iio_self(&c->handle);
    atomic_store(&c->ready, 1);
    c->result = c->fn(c->arg);
    c->returned_ns = iio_now_ns();
    c->returned_at = now_s();
    atomic_store(&c->done, 1);
    return NULL;
}

static void start_call(struct blocked_call *c, blocking_fn fn, void *arg) {
    memset(c, 0, sizeof *c);
    c->fn = fn;
    c->arg = arg;
    if (pthread_create(&c->thread, NULL, blocked_call_main, c) != 0) {
        perror("pthread_create");
        _exit(2);
    }
    while (!atomic_load(&c->ready))
        sched_yield();
}

#endif
