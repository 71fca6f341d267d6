/*
 * Cancellation groups: threads join a group for the duration of their calls;
 * cancelling the group makes every member's call in flight return and every
 * later call fail (a sticky cancel on each member) until the group is reset.
 * A thread-per-connection server shuts down in one call.
 *
 * Membership changes and cancel/reset are serialised by the group's mutex,
 * so a thread that joins while the group is cancelled is cancelled too. The
 * mutex is never taken on a call's path: members only read their own state
 * word, as for any sticky cancel.
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct iio_group {
    pthread_mutex_t lock;
    iio_thread_t *members;
    size_t count, capacity;
    bool cancelled;
};

iio_group_t *iio_group_create(void) {
    iio_group_t *group = calloc(1, sizeof *group);
    if (group)
        pthread_mutex_init(&group->lock, NULL);
    return group;
}

void iio_group_destroy(iio_group_t *group) {
    if (!group)
        return;
    pthread_mutex_destroy(&group->lock);
    free(group->members);
    free(group);
}

/* Names the calling thread and takes the group's lock (0), or fails. */
static int lock_for_caller(iio_group_t *group, iio_thread_t *self) {
    if (!group)
        return -EINVAL;
    int err = iio_self(self);
    if (err < 0)
        return err;
    pthread_mutex_lock(&group->lock);
    return 0;
}

int iio_group_join(iio_group_t *group) {
    iio_thread_t self;
    int err = lock_for_caller(group, &self);
    if (err < 0)
        return err;
    if (group->count == group->capacity) {
        size_t capacity = group->capacity ? group->capacity * 2 : 16;
        iio_thread_t *grown = realloc(group->members, capacity * sizeof *grown);
        if (!grown) {
            pthread_mutex_unlock(&group->lock);
            return -ENOMEM;
        }
        group->members = grown;
        group->capacity = capacity;
    }
    group->members[group->count++] = self;
    bool cancelled = group->cancelled;
    if (cancelled)
        iio_cancel_sticky(self);
    pthread_mutex_unlock(&group->lock);
    return cancelled ? -ECANCELED : 0;
}

int iio_group_leave(iio_group_t *group) {
    iio_thread_t self;
    int err = lock_for_caller(group, &self);
    if (err < 0)
        return err;
    int result = -ENOENT;
    for (size_t i = 0; i < group->count; i++) {
        if (group->members[i].record == self.record &&
            group->members[i].incarnation == self.incarnation) {
            group->members[i] = group->members[--group->count];
            if (group->cancelled)
                iio_clear_cancel(self); /* the group's cancel was sticky */
            result = 0;
            break;
        }
    }
    pthread_mutex_unlock(&group->lock);
    return result;
}

/* Sets the group's state and applies it to every member; returns how many
 * members were in a call when cancelled. */
static int set_cancelled(iio_group_t *group, bool cancelled) {
    if (!group)
        return -EINVAL;
    pthread_mutex_lock(&group->lock);
    group->cancelled = cancelled;
    int in_flight = 0;
    for (size_t i = 0; i < group->count; i++) {
        if (cancelled)
            in_flight += iio_cancel_sticky(group->members[i]) == 1;
        else
            iio_clear_cancel(group->members[i]);
    }
    pthread_mutex_unlock(&group->lock);
    return in_flight;
}

int iio_group_cancel(iio_group_t *group) { return set_cancelled(group, true); }

int iio_group_reset(iio_group_t *group) { return set_cancelled(group, false); }

int iio_group_cancelled(iio_group_t *group) {
    if (!group)
        return -EINVAL;
    pthread_mutex_lock(&group->lock);
    int cancelled = group->cancelled;
    pthread_mutex_unlock(&group->lock);
    return cancelled;
}
