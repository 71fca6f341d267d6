/*
 * fork(): one set of handlers, registered once before the library can take
 * its first lock, so that a fork at any moment, even while another thread
 * is in its first iio_init, leaves the child with unlocked, consistent
 * state. Prepare takes the library's
 * locks in one order; the child rebuilds what only the forking thread
 * still owns. The driver thread is gone in the child; the next call that
 * needs it starts it again (deadline.c).
 */
#include "internal.h"

#include <pthread.h>

static void prepare(void) {
    iio_signal_fork_prepare();   /* init lock */
    iio_registry_fork_prepare(); /* registry lock */
}

static void parent(void) {
    iio_registry_fork_parent();
    iio_signal_fork_parent();
}

_Atomic uint32_t iio_fork_epoch;

static void child(void) {
    atomic_fetch_add(&iio_fork_epoch, 1);
    iio_registry_fork_child();
    iio_timer_fork_child();
    iio_c_driver_fork_child();
    iio_signal_fork_child();
}

/*
 * Registered by a constructor in signal.c (which every program that uses
 * the library links), before main and before any thread of ours exists: a
 * pthread_once here would itself be the hazard, since a fork during it
 * leaves the child waiting for a registration that never ends (TSan's
 * pthread_once, unlike glibc's, does not recover). iio_init calls this too,
 * for a loader that skipped constructors; the flag then makes it a load.
 */
static _Atomic int registered;

void iio_fork_handlers_register(void) {
    if (atomic_load_explicit(&registered, memory_order_acquire))
        return;
    int expected = 0;
    if (atomic_compare_exchange_strong(&registered, &expected, 1))
        pthread_atfork(prepare, parent, child);
}
