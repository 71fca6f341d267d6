/*
 * The shield: a scope in which the calling thread's calls are not ended by
 * cancels (iio_cancel, iio_cancel_sticky, a group's), as
 * pthread_setcancelstate(PTHREAD_CANCEL_DISABLE) does for pthread_cancel.
 *
 * Only the owner acts on it, so it lives in a thread-local depth and in
 * the KEPT bit of the state word, which only the owner sets (and
 * iio_clear_cancel clears, as it clears a sticky cancel); requesters do
 * not change:
 * - a cancel in force (sticky, a group's, a kept one) does not refuse op
 *   begin while the depth is non-zero (syscall.c, op_begin_refused);
 * - a cancel that reaches a shielded call sets KEPT when the call's
 *   operation ends (cancel.c, iio_op_cleanup: a cancel request marks
 *   CLEANUP), whether the call then goes on, as after a re-check
 *   (syscall.c, outcome_of), or ends with its own result;
 * - the first call after the outermost scope sees KEPT, fails -ECANCELED
 *   and clears it; sticky and group cancels stay in force as before.
 * Deadlines are not shielded: the call's, the thread's and a descriptor's
 * still end a call inside the scope (so close still unblocks it). A
 * shielded call that must not hang forever gets a deadline of its own.
 */
#include "internal.h"

#include <errno.h>

__thread unsigned iio_tls_shield_depth __attribute__((tls_model("initial-exec")));

void iio_shield_begin(void) { iio_tls_shield_depth++; }

int iio_shield_end(void) {
    if (iio_tls_shield_depth == 0)
        return -EINVAL;
    if (--iio_tls_shield_depth != 0)
        return 0;
    return iio_self_cancelled();
}

int iio_shielded(void) { return iio_tls_shield_depth != 0; }
