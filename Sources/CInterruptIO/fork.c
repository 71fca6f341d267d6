/*
 * fork(): one set of handlers, registered once before the library takes
 * its first lock (first thing in iio_init), so that a fork at any moment,
 * even while another thread is in its first iio_init, leaves the child
 * with unlocked, consistent state. Prepare takes the library's
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

static void child(void) {
    iio_registry_fork_child();
    iio_timer_fork_child();
    iio_signal_fork_child();
}

static pthread_once_t registered = PTHREAD_ONCE_INIT;

static void register_handlers(void) { pthread_atfork(prepare, parent, child); }

void iio_fork_handlers_register(void) { pthread_once(&registered, register_handlers); }
