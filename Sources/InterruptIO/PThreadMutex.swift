#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A value guarded by a `pthread_mutex_t`.
///
/// Why not `Synchronization.Mutex`: on Linux it locks with raw futex system
/// calls, which ThreadSanitizer does not intercept, so TSan reports every
/// access it guards as a race (CI runs the tests under TSan). pthread
/// mutexes are intercepted. Used for the library's own bookkeeping, never
/// on a call's path.
package final class PThreadMutex<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    package init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// fork(): held across the fork by the prepare handler, so the child
    /// copies a consistent value; released in the parent.
    package func lockForFork() { pthread_mutex_lock(mutex) }
    package func unlockAfterFork() { pthread_mutex_unlock(mutex) }

    /// In the fork child (the only thread there): a fresh mutex and
    /// `update` applied to the copied value.
    package func reinitializeInChild(_ update: (inout Value) -> Void) {
        pthread_mutex_init(mutex, nil)
        update(&value)
    }

    package func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }

    /// Waits on `condition` with the lock held around `body`'s checks:
    /// `body` runs under the lock, returns a result to stop waiting, or nil
    /// to wait for a signal and run again.
    package func waitUntil<R>(_ condition: UnsafeMutablePointer<pthread_cond_t>, _ body: (inout Value) -> R?) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while true {
            if let result = body(&value) { return result }
            pthread_cond_wait(condition, mutex)
        }
    }

    /// ``waitUntil(_:_:)`` with each wait bounded by `until()` (absolute
    /// `CLOCK_MONOTONIC` nanoseconds, nil: no bound), read under the lock
    /// after `body` returned nil; `condition` must use `CLOCK_MONOTONIC`.
    /// `body` runs again after each wait, timed out or not.
    package func waitUntil<R>(
        _ condition: UnsafeMutablePointer<pthread_cond_t>, until: () -> UInt64?, _ body: (inout Value) -> R?
    ) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while true {
            if let result = body(&value) { return result }
            if let instant = until() {
                var ts = timespec(tv_sec: Int(instant / 1_000_000_000), tv_nsec: Int(instant % 1_000_000_000))
                pthread_cond_timedwait(condition, mutex, &ts)
            } else {
                pthread_cond_wait(condition, mutex)
            }
        }
    }
}
