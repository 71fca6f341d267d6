/*
 * Cancellation groups: threads join a group for the duration of their calls;
 * cancelling the group makes every member's call in flight return and every
 * later call fail until the group is reset or the member leaves. A
 * thread-per-connection server shuts down in one call.
 *
 * Membership changes and cancel/reset are serialised by the group's mutex,
 * so a thread that joins while the group is cancelled is cancelled too. The
 * mutex is never taken on a call's path: members only read their own state
 * word. A group's cancel is counted there (GROUPS), one per cancelled group
 * the thread belongs to, apart from iio_cancel_sticky's bit: leaving or
 * resetting one group undoes that group's cancel and nothing else. Nothing
 * waits under the mutex: a request records, signals and returns.
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct member {
    iio_thread_t thread;
    bool counted; /* this group's cancel is counted in the member's GROUPS */
};

struct iio_group {
    pthread_mutex_t lock;
    struct member *members;
    size_t count, capacity;
    bool cancelled;
};

/* Groups the calling thread belongs to: GROUPS is 8 bits wide. */
static __thread unsigned memberships;
#define MAX_MEMBERSHIPS 255

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

/* Counts this group's cancel in the member's word (and interrupts it). */
static int count_cancel(struct member *m) {
    m->counted = true;
    return iio_request(iio_record_of(m->thread),
                       iio_handle_incarnation(m->thread), IIO_ANY_OPERATION,
                       IIO_REASON_CANCEL, IIO_REQUEST_GROUP);
}

static void uncount_cancel(struct member *m) {
    m->counted = false;
    iio_ungroup(iio_record_of(m->thread), iio_handle_incarnation(m->thread));
}

int iio_group_join(iio_group_t *group) {
    iio_thread_t self;
    int err = lock_for_caller(group, &self);
    if (err < 0)
        return err;
    int result = 0;
    if (memberships == MAX_MEMBERSHIPS) {
        result = -EMLINK;
        goto out;
    }
    if (group->count == group->capacity) {
        size_t capacity = group->capacity ? group->capacity * 2 : 16;
        struct member *grown = realloc(group->members, capacity * sizeof *grown);
        if (!grown) {
            result = -ENOMEM;
            goto out;
        }
        group->members = grown;
        group->capacity = capacity;
    }
    struct member *m = &group->members[group->count++];
    m->thread = self;
    m->counted = false;
    memberships++;
    if (group->cancelled) {
        count_cancel(m);
        result = -ECANCELED;
    }
out:
    pthread_mutex_unlock(&group->lock);
    return result;
}

int iio_group_leave(iio_group_t *group) {
    iio_thread_t self;
    int err = lock_for_caller(group, &self);
    if (err < 0)
        return err;
    int result = -ENOENT;
    for (size_t i = 0; i < group->count; i++) {
        struct member *m = &group->members[i];
        if (m->thread.record == self.record &&
            m->thread.incarnation == self.incarnation) {
            if (m->counted)
                uncount_cancel(m);
            *m = group->members[--group->count];
            memberships--;
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
        struct member *m = &group->members[i];
        if (cancelled && !m->counted)
            in_flight += count_cancel(m) == 1;
        else if (!cancelled && m->counted)
            uncount_cancel(m);
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
