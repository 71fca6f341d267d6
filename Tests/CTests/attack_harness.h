/*
 * The outside attacks' harness: each case runs in its own forked child
 * under a timeout (a hang is a failure); CHECK ends the case at the first
 * failed expectation. Included by Tests/CTests/attack_fd_*.c.
 */
#ifndef ATTACK_HARNESS_H
#define ATTACK_HARNESS_H

#include <interruptio.h>

#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-variable"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

static int g_pass, g_fail;
static const char *g_name;
#define CHECK(c, ...)                                                          \
    do {                                                                       \
        if (!(c)) {                                                            \
            printf("FAIL %s: line %d: %s: ", g_name, __LINE__, #c);            \
            printf(__VA_ARGS__);                                               \
            printf("\n");                                                      \
            fflush(stdout);                                                    \
            _exit(1);                                                          \
        }                                                                      \
    } while (0)

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}
static double now_s(void) { return (double)now_ns() / 1e9; }
static void sleep_us(long us) {
    struct timespec t = {us / 1000000, (us % 1000000) * 1000L};
    while (nanosleep(&t, &t) && errno == EINTR) {
    }
}

static const char *g_filter;
static void run_case(const char *name, void (*fn)(void), int timeout_s) {
    if (g_filter && !strstr(name, g_filter))
        return;
    fflush(stdout);
    pid_t p = fork();
    if (p == 0) {
        g_name = name;
        fn();
        fflush(stdout);
        _exit(0);
    }
    uint64_t end = now_ns() + (uint64_t)timeout_s * 1000000000ull;
    int st = 0;
    pid_t r;
    while ((r = waitpid(p, &st, WNOHANG)) == 0 && now_ns() < end)
        sleep_us(5000);
    if (r == 0) {
        kill(p, SIGKILL);
        waitpid(p, &st, 0);
        printf("FAIL %s: hung (killed after %d s)\n", name, timeout_s);
        g_fail++;
    } else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        printf("ok %s\n", name);
        g_pass++;
    } else {
        if (WIFSIGNALED(st))
            printf("FAIL %s: killed by signal %d\n", name, WTERMSIG(st));
        else
            printf("FAIL %s: exit status %d\n", name, WEXITSTATUS(st));
        g_fail++;
    }
    fflush(stdout);
}

static bool is_open(int n) { return fcntl(n, F_GETFD) >= 0; }

#endif
