/*
 * interruptio_driver.h — the protocol between the C core and a deadline
 * driver: for implementers of a driver (the Swift module's TimerDriver,
 * the C core's driver.c), not for users of the library.
 */
#ifndef INTERRUPTIO_DRIVER_H
#define INTERRUPTIO_DRIVER_H

#include "interruptio.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The timer driver.
 *
 * iio_timer_claim_driver() returns 1 to the one caller that must start the
 *   driver thread (again after fork()), 0 when one runs; from then on calls
 *   notify it. The driver thread calls iio_timer_driver_started() first.
 * iio_timer_set_starter(fn) registers a function that claims and starts the
 *   driver; a call that needs the driver when none runs (a fork child whose
 *   parent had one) calls it.
 * iio_timer_take_notified() pops a record index the driver must review, or
 *   -1 when none is waiting.
 * iio_timer_review(index, now) looks at the record and returns when to look
 *   at it next (IIO_NEVER: not until notified again); if the deadline of
 *   the operation in flight has passed, it interrupts that operation.
 * iio_timer_sleep(until) sleeps until `until` (CLOCK_MONOTONIC, absolute,
 *   IIO_NEVER for no limit) or until a notify needs an earlier wake-up.
 * iio_timer_wake() makes the driver's current or next sleep return at once
 *   (the Swift blocking pool's queued calls keep their deadlines in the
 *   driver: it wakes the driver after filing one).
 */
int iio_timer_claim_driver(void);
/* A starter that claimed the driver but could not start its thread gives
 * the claim back, so a later call tries again; meanwhile deadlines are
 * enforced at call start and setters return 1. */
void iio_timer_release_driver(void);
void iio_timer_driver_started(void);
void iio_timer_set_starter(void (*start)(void));
int64_t iio_timer_take_notified(void);
uint64_t iio_timer_review(uint32_t index, uint64_t now_ns);
void iio_timer_sleep(uint64_t until_ns);
void iio_timer_wake(void);

#ifdef __cplusplus
}
#endif

#endif /* INTERRUPTIO_DRIVER_H */
