/*
 * Fault injection for users' tests: wrapper calls return short counts,
 * foreign EINTRs (which the library hides, as it hides real ones),
 * -ECANCELED and -ETIMEDOUT at a configured rate, from a seeded generator.
 *
 * Invariants:
 * - Free when off: while injection is on, every call takes the portable
 *   entry (iio_mode is forced to it and restored after), and only the
 *   portable path looks at the faults; the PC-window path is unchanged.
 * - Nothing is lost: an error is injected instead of the system call,
 *   never after it; a short count is the call made with a smaller count
 *   (or fewer iovecs), so what it moved is what it reports.
 * - Each thread draws from its own generator, seeded from the seed and the
 *   order in which threads first draw: one seed, one sequence per thread.
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

_Atomic int iio_faults_active;

static pthread_mutex_t faults_lock = PTHREAD_MUTEX_INITIALIZER;
/* Written under faults_lock, read by every injecting thread. */
static _Atomic unsigned fault_kinds;
static _Atomic uint32_t fault_rate_per_million;
static _Atomic uint64_t fault_seed;
static _Atomic uint64_t fault_epoch;    /* bumped by each enable */
static _Atomic uint64_t threads_seeded; /* the order of first draws */
static int mode_before;                 /* restored by iio_faults_disable */
static _Atomic uint64_t counts[5];      /* calls, short, eintr, ..., */

static __thread uint64_t generator;
static __thread uint64_t generator_epoch;
/* An EINTR was injected into this thread's last draw: never two in a row,
 * so a call retried after one always makes progress (at any rate). */
static __thread bool eintr_last;

/* splitmix64: a full-period generator from any seed. */
static uint64_t next_random(void) {
    uint64_t epoch = atomic_load_explicit(&fault_epoch, memory_order_acquire);
    if (generator_epoch != epoch) {
        generator_epoch = epoch;
        generator = atomic_load_explicit(&fault_seed, memory_order_relaxed) ^
                    (atomic_fetch_add(&threads_seeded, 1) * 0x9e3779b97f4a7c15u);
    }
    uint64_t z = (generator += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Whether a transfer on `fd` may be made shorter without changing what
 * arrives: a byte stream (pipe, FIFO, regular file, tty, stream socket).
 * A datagram's tail would be discarded, an eventfd insists on 8 bytes. */
static bool byte_stream(long fd) {
    struct stat st;
    if (fstat((int)fd, &st) != 0)
        return false;
    if (S_ISFIFO(st.st_mode) || S_ISREG(st.st_mode))
        return true;
    if (S_ISCHR(st.st_mode))
        return isatty((int)fd);
    if (!S_ISSOCK(st.st_mode))
        return false;
    int type = 0;
    socklen_t length = sizeof type;
    return getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0 &&
           type == SOCK_STREAM;
}

/* Which argument is a byte count (or an iovec count) that a short
 * transfer may lower; -1 for calls that move no bytes. */
static int count_argument(long number) {
    switch (number) {
    case SYS_read: case SYS_write: case SYS_pread64: case SYS_pwrite64:
    case SYS_recvfrom: case SYS_sendto: case SYS_tee:
        return 2;
    case SYS_readv: case SYS_writev: case SYS_preadv: case SYS_pwritev:
        return 2;
    case SYS_sendfile:
        return 3;
    case SYS_splice: case SYS_copy_file_range:
        return 4;
    default:
        return -1;
    }
}

bool iio_fault_inject(long number, long args[6], long *result) {
    atomic_fetch_add_explicit(&counts[0], 1, memory_order_relaxed);
    uint64_t draw = next_random();
    bool after_eintr = eintr_last;
    eintr_last = false;
    if (draw % 1000000u >=
        atomic_load_explicit(&fault_rate_per_million, memory_order_relaxed))
        return false;
    /* Pick among the kinds that apply to this call. */
    unsigned kinds = atomic_load_explicit(&fault_kinds, memory_order_relaxed);
    int slot = count_argument(number);
    if (kinds & IIO_FAULT_SHORT) {
        /* read/write-like calls name their descriptor first; the zero-copy
         * ones move between pipes and files, streams by nature. */
        bool stream = slot == 2 ? byte_stream(args[0]) : true;
        if (slot < 0 || args[slot] <= 1 || !stream)
            kinds &= ~(unsigned)IIO_FAULT_SHORT;
    }
    if (number == SYS_connect || after_eintr) /* connect's retry: EALREADY */
        kinds &= ~(unsigned)IIO_FAULT_EINTR;
    if (iio_tls_shield_depth != 0) /* no cancel ends a shielded call */
        kinds &= ~(unsigned)IIO_FAULT_CANCELED;
    int choices[4], n = 0;
    for (int kind = 0; kind < 4; kind++)
        if (kinds & (1u << kind))
            choices[n++] = kind;
    if (n == 0)
        return false;
    int kind = choices[(draw >> 32) % (unsigned)n];
    atomic_fetch_add_explicit(&counts[1 + kind], 1, memory_order_relaxed);
    switch (1u << kind) {
    case IIO_FAULT_SHORT:
        args[slot] = 1 + (long)((draw >> 40) % (uint64_t)(args[slot] - 1));
        return false; /* the call runs, with less to move */
    case IIO_FAULT_EINTR:
        eintr_last = true;
        *result = -EINTR;
        return true;
    case IIO_FAULT_CANCELED:
        *result = -ECANCELED;
        return true;
    default:
        *result = -ETIMEDOUT;
        return true;
    }
}

int iio_faults_enable(unsigned kinds, uint32_t rate_per_million,
                      uint64_t seed) {
    if (kinds == 0 || (kinds & ~(unsigned)IIO_FAULT_ALL) ||
        rate_per_million > 1000000u)
        return -EINVAL;
    /* Set up first, so the entry mode saved below is the one the
     * environment chose (INTERRUPTIO_ENTRY), not the built-in default. */
    iio_ensure_init();
    pthread_mutex_lock(&faults_lock);
    atomic_store(&fault_kinds, kinds);
    atomic_store(&fault_rate_per_million, rate_per_million);
    atomic_store(&fault_seed, seed);
    atomic_store(&threads_seeded, 0);
    for (int i = 0; i < 5; i++)
        atomic_store(&counts[i], 0);
    atomic_fetch_add_explicit(&fault_epoch, 1, memory_order_release);
    if (!atomic_load(&iio_faults_active)) {
        mode_before = atomic_exchange(&iio_mode, IIO_ENTRY_PORTABLE);
        atomic_store(&iio_faults_active, 1);
    }
    pthread_mutex_unlock(&faults_lock);
    return 0;
}

void iio_faults_disable(void) {
    pthread_mutex_lock(&faults_lock);
    if (atomic_load(&iio_faults_active)) {
        atomic_store(&iio_faults_active, 0);
        atomic_store(&iio_mode, mode_before);
    }
    pthread_mutex_unlock(&faults_lock);
}

int iio_faults_enabled(void) { return atomic_load(&iio_faults_active); }

void iio_faults_counts(iio_fault_counts_t *out) {
    if (out == NULL)
        return;
    out->calls = atomic_load(&counts[0]);
    out->short_counts = atomic_load(&counts[1]);
    out->eintrs = atomic_load(&counts[2]);
    out->cancels = atomic_load(&counts[3]);
    out->timeouts = atomic_load(&counts[4]);
}

/* The entry mode may not change under injection (it would stop it). */
bool iio_faults_hold_mode(void) {
    pthread_mutex_lock(&faults_lock);
    if (atomic_load(&iio_faults_active)) {
        pthread_mutex_unlock(&faults_lock);
        return false;
    }
    return true; /* the caller sets the mode, then iio_faults_release_mode */
}

void iio_faults_release_mode(void) { pthread_mutex_unlock(&faults_lock); }

/*
 * INTERRUPTIO_FAULTS=rate=R[,seed=S][,kinds=K+K...], read once by iio_init:
 * R a fraction (0.01: one call in a hundred), S a number, K among short,
 * eintr, canceled, timedout (default: all). Malformed: injection stays off.
 */
void iio_faults_from_environment(void) {
    const char *text = getenv("INTERRUPTIO_FAULTS");
    if (text == NULL || *text == '\0')
        return;
    double rate = -1;
    unsigned long long seed = 0;
    unsigned kinds = IIO_FAULT_ALL;
    char copy[256];
    if (strlen(text) >= sizeof copy)
        return;
    strcpy(copy, text);
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        char *end = NULL, *value = item + 5;
        if (strncmp(item, "rate=", 5) == 0) {
            rate = strtod(value, &end);
        } else if (strncmp(item, "seed=", 5) == 0) {
            if (*value == '-')
                return;
            seed = strtoull(value, &end, 0);
        } else if (strncmp(item, "kinds=", 6) == 0) {
            kinds = 0;
            char *inner = NULL;
            for (char *k = strtok_r(item + 6, "+", &inner); k != NULL;
                 k = strtok_r(NULL, "+", &inner)) {
                if (strcmp(k, "short") == 0) kinds |= IIO_FAULT_SHORT;
                else if (strcmp(k, "eintr") == 0) kinds |= IIO_FAULT_EINTR;
                else if (strcmp(k, "canceled") == 0) kinds |= IIO_FAULT_CANCELED;
                else if (strcmp(k, "timedout") == 0) kinds |= IIO_FAULT_TIMEDOUT;
                else return;
            }
            continue;
        } else {
            return;
        }
        if (end == NULL || end == value || *end != '\0')
            return; /* no digits, or more than digits */
    }
    if (!(rate >= 0 && rate <= 1))
        return;
    iio_faults_enable(kinds, (uint32_t)(rate * 1000000.0 + 0.5), seed);
}
