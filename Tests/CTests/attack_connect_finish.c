/* iio_connect_finish on a socket where connect never ran.
 * Contract (interruptio.h): "returns its outcome: 0 connected, the negative
 * error from SO_ERROR, or -ENOTCONN when no attempt was ever made".
 * A fresh socket says -ENOTCONN; a listening socket (no attempt was ever
 * made on it either) waits forever instead. */
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
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

static int fd;
static atomic_long res = -999;
static void *finisher(void *a) { (void)a; res = iio_connect_finish(fd); return NULL; }
static void check_returns(const char *what) {
    job_t j; job_start(&j, finisher, NULL);
    int ok = job_wait(&j, 1000);
    CHECK(ok, "iio_connect_finish on %s still blocked after 1 s", what);
    CHECK(res == -ENOTCONN, "iio_connect_finish on %s = %ld", what, (long)res);
}
static void t_fresh(void) { fd = socket(AF_INET, SOCK_STREAM, 0); check_returns("a fresh socket"); }
static void t_listening(void) {
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
    fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(bind(fd, (void *)&a, sizeof a) == 0 && listen(fd, 1) == 0, "listen");
    check_returns("a listening socket");
}
int main(void) {
    run_test("connect_finish on a fresh socket -> ENOTCONN", t_fresh, 5);
    run_test("connect_finish on a listening socket -> ENOTCONN", t_listening, 5);
    return finish();
}
