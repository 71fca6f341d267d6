/*
 * Second round of the outside attack on iio_fd_t, aimed after reading
 * fd.c / deadline.c: the thread-local deadline source that an fd call
 * swaps in, and the -EDEADLK check that looks only at the current source. Each case runs in its own forked child under a
 * timeout; a hang is reported as a failure. Prints "ok NAME" or
 * "FAIL NAME: why"; exits non-zero on any failure.
 *   TEST_PROGRAM=attack_fd_round2 Tests/CTests/build.sh /tmp/attack_fd_round2
 *   /tmp/attack_fd_round2 [case-substring]
 * INTERRUPTIO_ENTRY=portable runs everything on the portable entry path.
 */
#include "attack_fd_callers.h"


/* ======================================================================== */
/* A1 (as settled after this attack): inside an iio_fd_* call the
 *     descriptor's deadline word is the thread's source in place of the
 *     application's own (interruptio.h); the own source applies again as
 *     soon as the call ends. */
static uint64_t app_word;
static void c_own_source_replaced_inside_fd_call_then_restored(void) {
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    iio_fd_t *fd = wrap(p[0]);
    CHECK(write(p[1], "d", 1) == 1, "w");
    iio_deadline_word_store(&app_word, 1);
    CHECK(iio_deadline_source(&app_word) == 0, "source");
    char b = 0;
    /* control: a plain call honours the source */
    long plain = iio_read(p[0], &b, 0);
    CHECK(plain == -ETIMEDOUT, "control: plain iio_read under a passed source = %ld", plain);
    long r = iio_fd_read(fd, &b, 1);
    CHECK(r == 1 && b == 'd', "fd read under the descriptor's (never) deadline returned %ld", r);
    long after = iio_read(p[0], &b, 0);
    iio_deadline_source(NULL);
    CHECK(after == -ETIMEDOUT, "the own source did not apply again after the fd call: %ld", after);
}

/* A3. An application handler (SIGUSR1) on a thread blocked in an fd read on
 *     A makes an fd read on B that blocks; a second application handler
 *     (SIGUSR2) on the same thread, inside that nested call, closes A. The
 *     thread is inside a call on A: the header promises -EDEADLK ("it would
 *     wait for itself"); anything else cannot return. */
static iio_fd_t *_Atomic g_a, *_Atomic g_b;
static _Atomic long inner_result = -7777, close_result = -7777;
static _Atomic int in_usr1;
static void usr2_close_a(int sig) {
    (void)sig;
    atomic_store(&close_result, (long)iio_fd_close(atomic_load(&g_a)));
}
static void usr1_read_b(int sig) {
    (void)sig;
    char b;
    atomic_store(&in_usr1, 1);
    atomic_store(&inner_result, iio_fd_read(atomic_load(&g_b), &b, 1));
}
static void c_close_from_handler_nested_in_other_fd_call_edeadlk(void) {
    struct sigaction sa = {0};
    sa.sa_handler = usr1_read_b;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = usr2_close_a;
    sigaction(SIGUSR2, &sa, NULL);
    int p[2], q[2];
    CHECK(pipe(p) == 0 && pipe(q) == 0, "pipe");
    atomic_store(&g_a, wrap(p[0]));
    atomic_store(&g_b, wrap(q[0]));
    caller_t *c = callers_alloc(1);
    int ops[] = {OP_READ};
    callers_start(c, 1, atomic_load(&g_a), ops, 1, 1);
    pthread_kill(c->th, SIGUSR1);
    while (!atomic_load(&in_usr1))
        sched_yield();
    sleep_us(50000); /* the nested read on B is blocked */
    pthread_kill(c->th, SIGUSR2);
    double t = now_s();
    while (atomic_load(&close_result) == -7777 && now_s() - t < 2.0)
        sleep_us(1000);
    long cr = atomic_load(&close_result);
    CHECK(cr != -7777, "iio_fd_close(A) from a handler on a thread inside a call on A (nested in an fd call on B) never returned: the thread waits for itself (A's read count is held below the handler)");
    CHECK(cr == -EDEADLK, "close = %ld", cr);
}

/* A4 (removed): another iio_fd_* call inside an iio_fd_begin/iio_fd_end
 * region is documented as not allowed (close cannot reach it). */

/* A5. Control for A3 with one level: a handler inside a call on A closes A:
 *     -EDEADLK (the documented behaviour), at random moments of a loop of
 *     nested calls on B inside A's handler... kept simple: documented case. */
static void c_control_single_level_edeadlk(void) {
    struct sigaction sa = {0};
    sa.sa_handler = usr2_close_a;
    sigaction(SIGUSR2, &sa, NULL);
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    atomic_store(&g_a, wrap(p[0]));
    caller_t *c = callers_alloc(1);
    int ops[] = {OP_READ};
    callers_start(c, 1, atomic_load(&g_a), ops, 1, 1);
    pthread_kill(c->th, SIGUSR2);
    double t = now_s();
    while (atomic_load(&close_result) == -7777 && now_s() - t < 2.0)
        sleep_us(1000);
    CHECK(atomic_load(&close_result) == -EDEADLK, "close = %ld", atomic_load(&close_result));
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    g_filter = argc > 1 ? argv[1] : NULL;
    printf("# entry mode %s\n", getenv("INTERRUPTIO_ENTRY") ? getenv("INTERRUPTIO_ENTRY") : "(default)");
    run_case("own_source_replaced_inside_fd_call_then_restored", c_own_source_replaced_inside_fd_call_then_restored, 10);
    run_case("control_single_level_edeadlk", c_control_single_level_edeadlk, 10);
    run_case("close_from_handler_nested_in_other_fd_call_edeadlk", c_close_from_handler_nested_in_other_fd_call_edeadlk, 10);
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
