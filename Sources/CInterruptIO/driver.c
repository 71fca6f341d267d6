/*
 * The C deadline driver, for processes without the Swift module: one
 * thread, started by the first call that needs it, that keeps each thread
 * record with a deadline once in a binary min-heap keyed by the instant the
 * review asked for, and sleeps until the earliest (iio_timer_sleep). Every
 * decision about a record is iio_timer_review's (deadline.c); this file only
 * remembers when to look again. A Swift process runs the Swift module's
 * driver instead (a timer wheel that also serves the blocking pool): the
 * starter below prefers it whenever that module is linked in.
 *
 * Invariants:
 * - A record index is in the heap at most once; pos[index] is its slot or
 *   NOT_HEAPED, key[index] its instant. Only the driver thread touches them.
 * - When the heap cannot grow (out of memory), the driver reviews every
 *   record each millisecond instead: late by a millisecond at worst, never
 *   lost.
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>

#define NOT_HEAPED UINT32_MAX
#define DEGRADED_PERIOD_NS 1000000u

static uint32_t *heap;     /* record indices, heap-ordered by key */
static uint32_t heap_size;
static uint32_t *pos;      /* by record index */
static uint64_t *key;      /* by record index */
static uint32_t tracked;   /* how many indices pos and key cover */
static bool degraded;

static bool earlier(uint32_t a, uint32_t b) { return key[heap[a]] < key[heap[b]]; }

static void swap_slots(uint32_t a, uint32_t b) {
    uint32_t t = heap[a];
    heap[a] = heap[b];
    heap[b] = t;
    pos[heap[a]] = a;
    pos[heap[b]] = b;
}

static void sift_up(uint32_t slot) {
    while (slot > 0 && earlier(slot, (slot - 1) / 2)) {
        swap_slots(slot, (slot - 1) / 2);
        slot = (slot - 1) / 2;
    }
}

static void sift_down(uint32_t slot) {
    for (;;) {
        uint32_t left = 2 * slot + 1, right = left + 1, least = slot;
        if (left < heap_size && earlier(left, least))
            least = left;
        if (right < heap_size && earlier(right, least))
            least = right;
        if (least == slot)
            return;
        swap_slots(slot, least);
        slot = least;
    }
}

static void remove_slot(uint32_t slot) {
    uint32_t index = heap[slot];
    pos[index] = NOT_HEAPED;
    heap_size--;
    if (slot == heap_size)
        return;
    heap[slot] = heap[heap_size];
    pos[heap[slot]] = slot;
    sift_down(slot);
    sift_up(slot);
}

/* Makes room for record `index`; false when memory ran out. */
static bool track(uint32_t index) {
    if (index < tracked)
        return true;
    uint32_t want = tracked ? tracked : 64;
    while (want <= index)
        want *= 2;
    uint32_t *new_pos = realloc(pos, want * sizeof *pos);
    if (new_pos == NULL)
        return false;
    pos = new_pos;
    uint64_t *new_key = realloc(key, want * sizeof *key);
    if (new_key == NULL)
        return false;
    key = new_key;
    uint32_t *new_heap = realloc(heap, want * sizeof *heap);
    if (new_heap == NULL)
        return false;
    heap = new_heap;
    for (uint32_t i = tracked; i < want; i++)
        pos[i] = NOT_HEAPED;
    tracked = want;
    return true;
}

/* Looks at record `index` next at `at` (IIO_NEVER: not until notified). */
static void schedule(uint32_t index, uint64_t at) {
    if (!track(index)) {
        degraded = true;
        return;
    }
    uint32_t slot = pos[index];
    if (at == IIO_NEVER) {
        if (slot != NOT_HEAPED)
            remove_slot(slot);
        return;
    }
    key[index] = at;
    if (slot == NOT_HEAPED) {
        slot = heap_size++;
        heap[slot] = index;
        pos[index] = slot;
    }
    sift_down(slot);
    sift_up(pos[index]);
}

static void *driver_main(void *arg) {
    (void)arg;
    /* Application signals go to the application's threads. */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    prctl(PR_SET_NAME, "iio-timer-c", 0, 0, 0);
    iio_timer_driver_started();
    for (;;) {
        uint64_t now = iio_now_ns();
        int64_t notified;
        while ((notified = iio_timer_take_notified()) >= 0)
            schedule((uint32_t)notified,
                     iio_timer_review((uint32_t)notified, now));
        now = iio_now_ns();
        while (heap_size > 0 && key[heap[0]] <= now) {
            uint32_t index = heap[0];
            remove_slot(0);
            schedule(index, iio_timer_review(index, now));
        }
        uint64_t until = heap_size > 0 ? key[heap[0]] : IIO_NEVER;
        if (degraded) {
            for (uint32_t i = 0, n = iio_record_count(); i < n; i++)
                iio_timer_review(i, now);
            if (until > now + DEGRADED_PERIOD_NS)
                until = now + DEGRADED_PERIOD_NS;
        }
        iio_timer_sleep(until);
    }
    return NULL;
}

/* In a fork child the driver thread is gone: its heap starts empty. */
void iio_c_driver_fork_child(void) {
    heap_size = 0;
    for (uint32_t i = 0; i < tracked; i++)
        pos[i] = NOT_HEAPED;
    degraded = false;
}

int iio_c_driver_start(void) {
    if (!iio_timer_claim_driver())
        return 0; /* one runs already */
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attributes, 64 * 1024);
    pthread_t thread;
    int err = pthread_create(&thread, &attributes, driver_main, NULL);
    pthread_attr_destroy(&attributes);
    if (err != 0) {
        iio_timer_release_driver();
        return -err;
    }
    return 0;
}
