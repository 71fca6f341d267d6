/*
 * Closed-loop load generator for the echo-server benchmark (issue 15).
 *
 * N connections to 127.0.0.1:PORT; each sends a SIZE-byte request (64 by
 * default), waits for its complete echo, checks it byte for byte against
 * what it sent, and sends the next one. One thread, epoll, non-blocking
 * sockets: on a 2-core machine the generator shares the CPU with the server
 * under test, and a single C thread with no runtime is the cheapest way to
 * offer the load (it costs the same for every server).
 *
 *   loadgen --port P [--connections N] [--duration S] [--warmup S]
 *           [--size BYTES] [--server-pid PID] [--hold]
 *
 * Once every connection has had its first echo (all_served_ms after the
 * first request), and after --warmup seconds more (not counted), it
 * measures for --duration seconds:
 * the requests sent in that window are counted, and their latency (send of
 * the request to the last byte of its echo) recorded. Then it stops sending,
 * drains the requests in flight (each checked too) and prints one JSON line:
 * requests per second, latency p50/p99/p99.9 in microseconds, mismatches and
 * errors. With --server-pid it also reads the server's VmRSS and Threads
 * from /proc/PID/status at the end of the window (all N connections open
 * and busy), and its CPU time (/proc/PID/stat) and context switches (summed
 * over each thread's /proc/PID/task/TID/status) over the window, and the
 * CPU time all other processes used meanwhile (/proc/stat), the noise.
 *
 * --hold: after the first line, keeps the connections open and idle and
 * waits (up to 30 s) until the server has closed every one of them (the
 * runner sends SIGTERM meanwhile); prints a second JSON line with how many
 * the server closed.
 *
 * Exit status: 0 when every response equalled its request, no connection
 * failed and at least one request completed (and, with --hold, the server
 * closed every connection); 1 otherwise; 64 for bad options.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZE 4096

struct conn {
    int fd;
    uint32_t id;
    uint64_t seq;
    uint64_t sent_ns;   /* when the request in flight was sent */
    size_t wdone;       /* bytes of the request written so far */
    size_t rdone;       /* bytes of its echo read so far */
    int busy;           /* a request is in flight */
    int closed;         /* end of stream seen (only expected with --hold) */
    unsigned char req[MAX_SIZE];
    unsigned char resp[MAX_SIZE];
};

static size_t size = 64;
static int epfd;
static uint64_t mismatches, errors;
static uint64_t *lat;   /* latencies (ns) of the requests completed in the window */
static size_t nlat, caplat;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* The request's bytes: connection id, sequence number, then a pattern that
 * depends on both (so a response from another connection or an earlier
 * request never passes for this one). */
static void fill(struct conn *c) {
    uint64_t x = ((uint64_t)c->id << 32) ^ c->seq ^ 0x9e3779b97f4a7c15u;
    memcpy(c->req, &c->id, 4);
    memcpy(c->req + 4, &c->seq, 8);
    for (size_t i = 12; i < size; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        c->req[i] = (unsigned char)x;
    }
}

static void want(struct conn *c, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0) die("epoll_ctl");
}

/* Writes what is left of the request; returns 0, or -1 on a failure. */
static int push(struct conn *c) {
    while (c->wdone < size) {
        ssize_t n = write(c->fd, c->req + c->wdone, size - c->wdone);
        if (n > 0) { c->wdone += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            want(c, EPOLLIN | EPOLLOUT);
            return 0;
        }
        return -1;
    }
    return 0;
}

static int send_next(struct conn *c) {
    c->seq++;
    fill(c);
    c->wdone = c->rdone = 0;
    c->busy = 1;
    c->sent_ns = now_ns();
    return push(c);
}

static void record(uint64_t ns) {
    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 1 << 16;
        lat = realloc(lat, caplat * sizeof *lat);
        if (!lat) die("realloc");
    }
    lat[nlat++] = ns;
}

/* /proc/PID/status field (kB for VmRSS), or -1. */
static long proc_status(int pid, const char *field) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long value = -1;
    size_t len = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && line[len] == ':') { value = atol(line + len + 1); break; }
    fclose(f);
    return value;
}

/* utime + stime of the process in seconds, or -1. */
static double proc_cpu_s(int pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p) return -1;
    unsigned long ut = 0, st = 0;
    /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Context switches (voluntary and not) of every thread of the process, or -1. */
static long proc_switches(int pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *dir = opendir(path);
    if (!dir) return -1;
    long total = 0;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        if (entry->d_name[0] == '.') continue;
        int tid = atoi(entry->d_name);
        char file[96], line[128];
        snprintf(file, sizeof file, "/proc/%d/task/%d/status", pid, tid);
        FILE *f = fopen(file, "r");
        if (!f) continue; /* the thread has just exited */
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "voluntary_ctxt_switches:", 24)) total += atol(line + 24);
            else if (!strncmp(line, "nonvoluntary_ctxt_switches:", 27)) total += atol(line + 27);
        fclose(f);
    }
    closedir(dir);
    return total;
}

/* CPU time every process on the machine has used (all but idle and
 * iowait), in seconds, from /proc/stat; -1 if unreadable. */
static double machine_busy_s(void) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &v[6], &v[7]);
    fclose(f);
    if (n < 8) return -1;
    /* user nice system idle iowait irq softirq steal: busy = all but idle, iowait */
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile in microseconds. */
static double pct_us(double p) {
    if (nlat == 0) return 0;
    size_t rank = (size_t)(p / 100.0 * (double)nlat + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > nlat) rank = nlat;
    return (double)lat[rank - 1] / 1e3;
}

static void usage(void) {
    fprintf(stderr, "usage: loadgen --port P [--connections N] [--duration S] [--warmup S] "
                    "[--size BYTES] [--server-pid PID] [--hold]\n");
    exit(64);
}

int main(int argc, char **argv) {
    int port = -1, nconn = 10, server_pid = 0, hold = 0;
    double duration = 5, warmup = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--hold")) { hold = 1; continue; }
        if (!v) usage();
        if (!strcmp(a, "--port")) port = atoi(v);
        else if (!strcmp(a, "--connections")) nconn = atoi(v);
        else if (!strcmp(a, "--duration")) duration = atof(v);
        else if (!strcmp(a, "--warmup")) warmup = atof(v);
        else if (!strcmp(a, "--size")) size = (size_t)atol(v);
        else if (!strcmp(a, "--server-pid")) server_pid = atoi(v);
        else usage();
        i++;
    }
    if (port <= 0 || port > 65535 || nconn < 1 || duration <= 0 || warmup < 0 || size < 12 || size > MAX_SIZE)
        usage();

    struct conn *conns = calloc((size_t)nconn, sizeof *conns);
    if (!conns) die("calloc");
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(0x7f000001)};
    /* Connect all N first (blocking), then start the load on all at once. */
    for (int i = 0; i < nconn; i++) {
        struct conn *c = &conns[i];
        c->id = (uint32_t)i;
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0) die("socket");
        if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) != 0) die("connect");
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) die("epoll_ctl");
    }
    int inflight_failed = 0;
    for (int i = 0; i < nconn; i++)
        if (send_next(&conns[i]) != 0) { errors++; conns[i].busy = 0; conns[i].closed = 1; inflight_failed++; }

    /* The warm-up starts once every connection has had its first echo (the
     * server has accepted and served all N), so that a slow acceptor is
     * not measured as latency. */
    uint64_t t0 = now_ns(), ready_ns = 0;
    uint64_t start = UINT64_MAX, end = UINT64_MAX;
    int ready = 0;
    uint64_t completed = 0, warm_completed = 0;
    double cpu_server0 = -1, cpu_server1 = -1, cpu_self0 = 0, cpu_self1 = 0, busy0 = -1, busy1 = -1;
    long rss_kb = -1, threads = -1, switches0 = -1, switches1 = -1;
    int measuring = 0, stopping = 0, inflight = nconn - inflight_failed;
    uint64_t drain_until = 0;
    struct epoll_event events[256];

    while (inflight > 0) {
        uint64_t t = now_ns();
        if (!measuring && !stopping && t >= start) {
            /* The snapshots first, then the window opens: only requests
             * sent from now on are counted, so the time the snapshots take
             * is in no request's latency. */
            if (server_pid) {
                cpu_server0 = proc_cpu_s(server_pid);
                switches0 = proc_switches(server_pid);
            }
            cpu_self0 = self_cpu_s();
            busy0 = machine_busy_s();
            warm_completed = completed;
            measuring = 1;
            start = now_ns();
            end = start + (uint64_t)(duration * 1e9);
        }
        if (measuring && t >= end) {
            /* The end of the load: every connection open, requests in flight. */
            measuring = 0;
            stopping = 1;
            cpu_self1 = self_cpu_s();
            busy1 = machine_busy_s();
            if (server_pid) {
                cpu_server1 = proc_cpu_s(server_pid);
                switches1 = proc_switches(server_pid);
                rss_kb = proc_status(server_pid, "VmRSS");
                threads = proc_status(server_pid, "Threads");
            }
            drain_until = t + 5000000000u;
        }
        if (start == UINT64_MAX && t - t0 > 30000000000u) {
            fprintf(stderr, "loadgen: %d of %d connections without an echo after 30 s\n", nconn - ready, nconn);
            errors += (uint64_t)(nconn - ready);
            break;
        }
        if (stopping && t >= drain_until) {
            fprintf(stderr, "loadgen: %d requests still unanswered 5 s after the end\n", inflight);
            errors += (uint64_t)inflight;
            break;
        }
        int n = epoll_wait(epfd, events, 256, 10);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int k = 0; k < n; k++) {
            struct conn *c = events[k].data.ptr;
            if (!c->busy) continue;
            if (events[k].events & EPOLLOUT) {
                if (push(c) != 0) { errors++; c->busy = 0; c->closed = 1; inflight--; continue; }
                if (c->wdone == size) want(c, EPOLLIN);
            }
            if (!(events[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) continue;
            ssize_t r = read(c->fd, c->resp + c->rdone, size - c->rdone);
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (r <= 0) {
                fprintf(stderr, "loadgen: connection %u: %s\n", c->id, r == 0 ? "closed by the server" : strerror(errno));
                errors++; c->busy = 0; c->closed = 1; inflight--;
                continue;
            }
            c->rdone += (size_t)r;
            if (c->rdone < size) continue;
            uint64_t done = now_ns();
            if (memcmp(c->req, c->resp, size) != 0) mismatches++;
            completed++;
            if (c->seq == 1 && ++ready == nconn) {
                ready_ns = done - t0;
                start = done + (uint64_t)(warmup * 1e9);
            }
            if ((measuring || stopping) && c->sent_ns >= start && c->sent_ns < end)
                record(done - c->sent_ns); /* sent in the window */
            c->busy = 0;
            if (stopping) { inflight--; continue; }
            if (send_next(c) != 0) { errors++; c->busy = 0; c->closed = 1; inflight--; }
        }
    }
    /* A byte beyond the echo (the server sending more than it got) shows up
     * as readable data now that every connection is quiet. */
    for (int i = 0; i < nconn; i++) {
        unsigned char extra[64];
        ssize_t r = recv(conns[i].fd, extra, sizeof extra, MSG_DONTWAIT);
        if (r > 0) mismatches++;
    }

    qsort(lat, nlat, sizeof *lat, cmp_u64);
    double secs = duration;
    double server_cpu = cpu_server0 >= 0 && cpu_server1 >= 0 ? cpu_server1 - cpu_server0 : -1;
    printf("{\"connections\":%d,\"size\":%zu,\"all_served_ms\":%.1f,\"duration_s\":%.3f,\"requests\":%zu,\"rps\":%.1f,"
           "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,"
           "\"mismatches\":%llu,\"errors\":%llu,\"total_requests\":%llu,\"warmup_requests\":%llu,"
           "\"server_rss_kb\":%ld,\"server_threads\":%ld,\"server_cpu_s\":%.3f,\"server_switches\":%ld,"
           "\"loadgen_cpu_s\":%.3f,\"others_cpu_s\":%.3f}\n",
           nconn, size, (double)ready_ns / 1e6, secs, nlat, (double)nlat / secs, pct_us(50), pct_us(99), pct_us(99.9),
           nlat ? (double)lat[nlat - 1] / 1e3 : 0.0, (unsigned long long)mismatches,
           (unsigned long long)errors, (unsigned long long)completed, (unsigned long long)warm_completed,
           rss_kb, threads, server_cpu, switches0 >= 0 && switches1 >= 0 ? switches1 - switches0 : -1,
           cpu_self1 - cpu_self0,
           /* what every other process used over the window: the noise */
           busy0 >= 0 && busy1 >= 0 && server_cpu >= 0 ? busy1 - busy0 - server_cpu - (cpu_self1 - cpu_self0) : -1);
    fflush(stdout);
    int ok = mismatches == 0 && errors == 0 && nlat > 0;

    if (hold) {
        /* Idle connections, open: wait until the server closes each one. */
        int open = 0;
        for (int i = 0; i < nconn; i++) {
            if (conns[i].closed) { /* failed earlier: not counted */
                struct epoll_event ev;
                epoll_ctl(epfd, EPOLL_CTL_DEL, conns[i].fd, &ev);
                continue;
            }
            open++;
            want(&conns[i], EPOLLIN | EPOLLRDHUP);
        }
        int closed = 0, unexpected = 0;
        uint64_t until = now_ns() + 30000000000u;
        while (closed < open && now_ns() < until) {
            int n = epoll_wait(epfd, events, 256, 100);
            if (n < 0 && errno != EINTR) die("epoll_wait");
            for (int k = 0; k < n; k++) {
                struct conn *c = events[k].data.ptr;
                if (c->closed) continue;
                unsigned char buf[64];
                ssize_t r = read(c->fd, buf, sizeof buf);
                if (r < 0 && errno == EAGAIN) continue;
                if (r > 0) { unexpected++; continue; }
                c->closed = 1; /* end of stream or reset: closed by the server */
                closed++;
                struct epoll_event ev;
                epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, &ev);
            }
        }
        printf("{\"held\":%d,\"closed_by_server\":%d,\"unexpected_bytes\":%d}\n", open, closed, unexpected);
        fflush(stdout);
        if (closed != open || unexpected) ok = 0;
    }
    for (int i = 0; i < nconn; i++) close(conns[i].fd);
    return ok ? 0 : 1;
}
