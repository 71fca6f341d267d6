/*
 * Per-thread records. A record is made on a thread's first interruptible
 * call and is never freed: a canceller may hold its address at any time.
 * When the thread exits the record is marked EXITED, its incarnation is
 * bumped (so old handles see -ESRCH) and it goes on a free list for the next
 * new thread, unless its incarnation has reached the top: then it is
 * retired for good, so that no handle ever names a later thread.
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

__thread struct iio_record *iio_tls_record
    __attribute__((tls_model("initial-exec")));
__thread int iio_tls_signal_deferred __attribute__((tls_model("initial-exec")));

#define CHUNK_RECORDS 256
#define MAX_CHUNKS 4096 /* about a million threads alive at once */

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct iio_record *_Atomic chunks[MAX_CHUNKS];
/* Written under registry_lock, read lock-free by scans. */
static _Atomic uint32_t records_made;
static struct iio_record *free_records;   /* under registry_lock */
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static void on_thread_exit(void *value);

static void make_exit_key(void) {
    pthread_key_create(&exit_key, on_thread_exit);
}

/* A record whose incarnation is spent is never handed out again. */
static void put_free(struct iio_record *rec) {
    if (iio_st_incarnation(atomic_load(&rec->state)) == IIO_ST_INC_MAX)
        return; /* retired */
    rec->next_free = free_records;
    free_records = rec;
}

static struct iio_record *take_record(void) {
    pthread_mutex_lock(&registry_lock);
    struct iio_record *rec = free_records;
    if (rec) {
        free_records = rec->next_free;
    } else if (records_made < CHUNK_RECORDS * MAX_CHUNKS) {
        uint32_t index = records_made;
        uint32_t chunk = index / CHUNK_RECORDS;
        struct iio_record *block = atomic_load(&chunks[chunk]);
        if (block == NULL) {
            block = aligned_alloc(64, sizeof *block * CHUNK_RECORDS);
            if (block) {
                memset(block, 0, sizeof *block * CHUNK_RECORDS);
                for (uint32_t i = 0; i < CHUNK_RECORDS; i++) {
                    block[i].index = chunk * CHUNK_RECORDS + i;
                    atomic_init(&block[i].state, IIO_ST_EXITED);
                    atomic_init(&block[i].thread_deadline_ns, IIO_NEVER);
                    atomic_init(&block[i].op_deadline_ns, IIO_NEVER);
                    atomic_init(&block[i].scheduled_ns, IIO_NEVER);
                    atomic_init(&block[i].resend_timer, -1);
                    atomic_init(&block[i].deadline_source, NULL);
                }
                atomic_store(&chunks[chunk], block);
            }
        }
        if (block) {
            rec = &block[index % CHUNK_RECORDS];
            atomic_store(&records_made, index + 1);
        }
    }
    pthread_mutex_unlock(&registry_lock);
    return rec;
}

/*
 * After fork only the calling thread exists in the child: every other bound
 * record is retired (new incarnation, so old handles report -ESRCH and a
 * reused tid is never signalled), no holder of any record is left, no
 * resend timer exists (timers are not inherited) and the free list is
 * rebuilt. fork.c calls these in order with the other fork handlers.
 */
void iio_registry_fork_prepare(void) { pthread_mutex_lock(&registry_lock); }
void iio_registry_fork_parent(void) { pthread_mutex_unlock(&registry_lock); }
void iio_registry_fork_child(void) {
    struct iio_record *self = iio_tls_record;
    free_records = NULL;
    for (uint32_t i = records_made; i-- > 0;) {
        struct iio_record *rec = iio_record_at(i);
        atomic_store(&rec->scheduled_ns, IIO_NEVER);
        atomic_store(&rec->queued, 0);
        atomic_store(&rec->resend_timer, -1);
        uint64_t s = atomic_load(&rec->state) & ~IIO_ST_HOLDERS_MASK;
        if (rec == self) {
            atomic_store(&rec->state, s);
            continue;
        }
        if (!(s & IIO_ST_EXITED))
            s = iio_st_exited(s);
        atomic_store(&rec->state, s);
        atomic_store(&rec->thread_deadline_ns, IIO_NEVER);
        atomic_store(&rec->deadline_source, NULL);
        put_free(rec);
    }
    if (self)
        atomic_store(&self->tid, (int)syscall(SYS_gettid));
    pthread_mutex_unlock(&registry_lock);
}

int iio_bind_slow(struct iio_record **out) {
    int err = iio_ensure_init();
    if (err < 0)
        return err;
    pthread_once(&exit_key_once, make_exit_key);
    struct iio_record *rec = take_record();
    if (rec == NULL)
        return -EAGAIN;
    atomic_store_explicit(&rec->tid, (int)syscall(SYS_gettid),
                          memory_order_relaxed);
    atomic_store(&rec->thread_deadline_ns, IIO_NEVER);
    atomic_store(&rec->op_deadline_ns, IIO_NEVER);
    iio_tls_call_deadline = IIO_NEVER;
    iio_tls_deadline_source = NULL;
    atomic_store(&rec->deadline_source, NULL);
    iio_tls_signal_deferred = 0;
    /* The thread-local pointer must be set before the signal can arrive. */
    iio_tls_record = rec;
    uint64_t s = atomic_load(&rec->state);
    /* model: bind. No handle names the new incarnation yet, but a holder
     * of the old one may still fail its CAS here: a CAS loop. */
    while (!atomic_compare_exchange_weak(
        &rec->state, &s,
        s & ~(IIO_ST_EXITED | IIO_ST_STICKY | IIO_ST_GROUPS_MASK |
              IIO_ST_OP_BITS))) {
    }
    pthread_setspecific(exit_key, rec);
    sigset_t ours;
    sigemptyset(&ours);
    sigaddset(&ours, atomic_load(&iio_signo));
    pthread_sigmask(SIG_UNBLOCK, &ours, NULL);
    *out = rec;
    return 0;
}

static void on_thread_exit(void *value) {
    struct iio_record *rec = value;
    uint64_t s = atomic_load(&rec->state);
    for (unsigned spins = 0;;) {
        if (iio_st_holders(s) != 0) {
            iio_relax(&spins);
            s = atomic_load(&rec->state);
            continue;
        }
        /* model: exit */
        if (atomic_compare_exchange_weak(&rec->state, &s, iio_st_exited(s)))
            break;
    }
    iio_resend_timer_delete(rec);
    atomic_store(&rec->thread_deadline_ns, IIO_NEVER);
    atomic_store(&rec->op_deadline_ns, IIO_NEVER);
    iio_tls_record = NULL;
    iio_tls_deadline_source = NULL;
    atomic_store(&rec->deadline_source, NULL);
    iio_tls_call_deadline = IIO_NEVER;
    pthread_mutex_lock(&registry_lock);
    put_free(rec);
    pthread_mutex_unlock(&registry_lock);
}

int iio_self(iio_thread_t *out) {
    int err = 0; /* set by iio_current_record when it fails */
    struct iio_record *rec = iio_current_record(&err);
    if (rec == NULL)
        return err;
    out->record = rec;
    out->incarnation = iio_st_incarnation(atomic_load(&rec->state));
    return 0;
}

int iio_thread_interruptible(void) {
    int signo = atomic_load(&iio_signo);
    if (signo == 0 || iio_handler_intact() != 1)
        return 0;
    sigset_t mask;
    if (pthread_sigmask(SIG_BLOCK, NULL, &mask) != 0)
        return 0;
    return sigismember(&mask, signo) ? 0 : 1;
}

struct iio_record *iio_record_at(uint32_t index) {
    if (index >= CHUNK_RECORDS * MAX_CHUNKS)
        return NULL;
    struct iio_record *block = atomic_load(&chunks[index / CHUNK_RECORDS]);
    return block ? &block[index % CHUNK_RECORDS] : NULL;
}

uint32_t iio_record_count(void) { return atomic_load(&records_made); }

uint64_t iio_thread_pack(iio_thread_t thread) {
    struct iio_record *rec = iio_record_of(thread);
    if (rec == NULL || thread.incarnation > IIO_ST_INC_MAX)
        return 0;
    return iio_pack(rec->index, thread.incarnation);
}

iio_thread_t iio_thread_unpack(uint64_t packed) {
    iio_thread_t t = {0, 0};
    if (packed & IIO_PACKED_VALID) {
        t.record = iio_record_at((uint32_t)packed);
        t.incarnation = (packed >> IIO_PACKED_INC_SHIFT) & IIO_ST_INC_MAX;
    }
    return t;
}
