/*
 * Echo server for the server benchmark (issue 15): plain C, one thread per
 * connection, blocking sockets with SO_RCVTIMEO (idle read deadline 10 s)
 * and SO_SNDTIMEO (write deadline 5 s). SIGTERM or SIGINT: the listener is
 * shut down (ending the blocked accept), every connection is shut down
 * (ending its blocked read), each thread closes its socket, and the process
 * exits 0 once the last connection thread is gone.
 *
 *   echo-server-c [--port P]    (0 picks a free port; prints
 *                                "listening on 127.0.0.1:PORT" first)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IDLE_S 10
#define WRITE_S 5

struct conn {
    int fd;
    struct conn *prev, *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t all_gone = PTHREAD_COND_INITIALIZER;
static struct conn *live;       /* the connections being served */
static int nlive, stopping, listen_fd;

static void set_send_timeout(int fd, long long ns) {
    struct timeval tv = {.tv_sec = ns / 1000000000LL, .tv_usec = (ns % 1000000000LL) / 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* After a partial write: the rest of this reply gets what is left of
 * WRITE_S since its first write; 0 when nothing is left. */
static int bounded(int fd, const struct timespec *first) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long left = WRITE_S * 1000000000LL - ((now.tv_sec - first->tv_sec) * 1000000000LL + (now.tv_nsec - first->tv_nsec));
    if (left < 1000) return 0;
    set_send_timeout(fd, left);
    return 1;
}

static void *serve(void *arg) {
    struct conn *c = arg;
    char buf[4096];
    for (;;) {
        ssize_t n = read(c->fd, buf, sizeof buf); /* EAGAIN after IDLE_S of silence */
        if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            break;
        }
        /* SO_SNDTIMEO bounds one write call, and a call that moved some
         * bytes returns them when it times out: a peer reading a trickle
         * would restart the timeout with every call (seen: a reply stuck
         * for 10 s and more). So after a partial write the timeout is set
         * to what is left of WRITE_S since the reply's first write, and put
         * back after. */
        ssize_t off = 0;
        int shortened = 0;
        struct timespec first;
        clock_gettime(CLOCK_MONOTONIC, &first);
        while (off < n) {
            ssize_t w = write(c->fd, buf + off, (size_t)(n - off)); /* EAGAIN after the timeout */
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) goto done;
            off += w;
            if (off < n) {
                if (!bounded(c->fd, &first)) goto done;
                shortened = 1;
            }
        }
        if (shortened) set_send_timeout(c->fd, WRITE_S * 1000000000LL);
    }
done:
    pthread_mutex_lock(&lock);
    if (c->prev) c->prev->next = c->next; else live = c->next;
    if (c->next) c->next->prev = c->prev;
    close(c->fd);
    if (--nlive == 0) pthread_cond_broadcast(&all_gone);
    pthread_mutex_unlock(&lock);
    free(c);
    return NULL;
}

static void *acceptor(void *arg) {
    (void)arg;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
                pthread_mutex_lock(&lock);
                int stop = stopping;
                pthread_mutex_unlock(&lock);
                if (stop) break;
                if (errno == EMFILE || errno == ENFILE) usleep(10000);
                continue;
            }
            break; /* EINVAL: the listener was shut down */
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct timeval rcv = {.tv_sec = IDLE_S}, snd = {.tv_sec = WRITE_S};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof rcv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof snd);
        struct conn *c = calloc(1, sizeof *c);
        if (!c) { close(fd); continue; }
        c->fd = fd;
        pthread_mutex_lock(&lock);
        if (stopping) { pthread_mutex_unlock(&lock); close(fd); free(c); break; }
        c->next = live;
        if (live) live->prev = c;
        live = c;
        nlive++;
        pthread_t t;
        if (pthread_create(&t, &attr, serve, c) != 0) {
            live = c->next;
            if (live) live->prev = NULL;
            nlive--;
            close(fd);
            free(c);
        }
        pthread_mutex_unlock(&lock);
    }
    pthread_attr_destroy(&attr);
    return NULL;
}

int main(int argc, char **argv) {
    int port = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc) port = atoi(argv[++i]);
        else { fprintf(stderr, "usage: echo-server-c [--port P]\n"); return 64; }
    }
    /* Blocked before any thread starts: every thread inherits the mask and
     * only sigwait below receives them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t len = sizeof addr;
    if (bind(listen_fd, (struct sockaddr *)&addr, len) != 0 || listen(listen_fd, 1024) != 0 ||
        getsockname(listen_fd, (struct sockaddr *)&addr, &len) != 0) {
        perror("echo-server-c: listen");
        return 1;
    }
    printf("listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
    fflush(stdout);

    pthread_t acc;
    pthread_create(&acc, NULL, acceptor, NULL);
    int sig;
    sigwait(&stop, &sig);

    pthread_mutex_lock(&lock);
    stopping = 1;
    pthread_mutex_unlock(&lock);
    shutdown(listen_fd, SHUT_RDWR); /* ends the blocked accept (EINVAL) */
    pthread_join(acc, NULL);
    close(listen_fd);
    pthread_mutex_lock(&lock);
    for (struct conn *c = live; c; c = c->next) shutdown(c->fd, SHUT_RDWR); /* ends each read */
    while (nlive > 0) pthread_cond_wait(&all_gone, &lock);
    pthread_mutex_unlock(&lock);
    return 0;
}
