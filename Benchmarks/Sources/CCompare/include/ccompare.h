/* Measurement loops for interruptio-compare: each runs one technique in a
 * tight loop so that the comparison measures the technique, not the caller. */
#ifndef CCOMPARE_H
#define CCOMPARE_H
#include <stdint.h>

enum cmp_read_method {
    CMP_BARE_READ,          /* read(2) */
    CMP_IIO_READ,           /* iio_read, no deadline */
    CMP_IIO_DEADLINE,       /* iio_read under a deadline set around it */
    CMP_IIO_FRESH_DEADLINE, /* the same with now + 1 s computed per call */
    CMP_POLL_READ,          /* ppoll for POLLIN, then read */
    CMP_RCVTIMEO_READ,      /* setsockopt(SO_RCVTIMEO), then read */
    CMP_TIMER_READ,         /* timer_settime arm, read, disarm */
    CMP_URING_READ,         /* io_uring read + IORING_OP_LINK_TIMEOUT */
    CMP_METHOD_COUNT
};

enum cmp_late_method { CMP_LATE_IIO, CMP_LATE_TIMER, CMP_LATE_URING, CMP_LATE_POLL, CMP_LATE_COUNT };

/* 0, or a negative errno (no io_uring: uring rows are then skipped). */
int cmp_init(void);
int cmp_uring_available(void);
/* The descriptor the read rows use (for the Swift rows). */
int cmp_read_fd(void);
/* Fills the socketpair so that `count` 1-byte reads complete at once. */
void cmp_refill(int count);
/* Nanoseconds for `count` 1-byte reads by `method`. */
uint64_t cmp_run(int method, int count);
/* How late (ns) a read blocked on an empty socket returned after a deadline
 * 1 to 1.6 ms ahead; negative if it returned early or failed oddly. */
int64_t cmp_lateness_sample(int method, uint64_t seed);

/* Scale: `threads` threads blocked on empty pipes with deadlines spread over
 * `spread_ns`; fills late_ns[threads]. Returns 0 or -1. */
int cmp_scale_deadlines(int threads, uint64_t spread_ns, int64_t *late_ns);
/* `threads` threads blocked without deadline, then all cancelled at once:
 * returns ns from the first cancel to the last return (or -1), and the
 * resident memory per blocked thread in *rss_per_thread. */
int64_t cmp_scale_cancel_all(int threads, int64_t *rss_per_thread);
#endif
