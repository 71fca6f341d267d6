import CInterruptIO
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A set of threads that can be cancelled together: cancelling the group
/// interrupts every member's call in flight and fails its later calls with
/// `Errno.canceled` until ``reset()``. A thread-per-connection server shuts
/// down every connection thread with one ``cancel()``.
///
/// The corresponding C type is `iio_group_t`.
public final class CancellationGroup: @unchecked Sendable {
    // The C group serialises all access under its own mutex.
    private let group: OpaquePointer

    /// A group with no members, not cancelled (`iio_group_create`).
    public init() {
        guard let group = iio_group_create() else { fatalError("InterruptIO: out of memory") }
        self.group = group
    }

    deinit { iio_group_destroy(group) }

    /// Runs `body` with the calling thread a member of the group. If the
    /// group is cancelled (now or while `body` runs), interruptible calls in
    /// `body` throw `Errno.canceled`.
    ///
    /// A thread can belong to at most 255 groups at once; joining a 256th
    /// (or running out of memory) is a programming error that traps rather
    /// than running `body` outside the group.
    ///
    /// The corresponding C functions are `iio_group_join` and
    /// `iio_group_leave`.
    public func withMembership<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        let joined = iio_group_join(group)
        precondition(joined == 0 || joined == -ECANCELED,
                     "InterruptIO: cannot join the group (\(Errno(rawValue: -joined))): at most 255 groups a thread")
        defer { _ = iio_group_leave(group) }
        return try body()
    }

    /// Cancels every member; returns how many were in a call.
    @discardableResult
    public func cancel() -> Int { Int(iio_group_cancel(group)) }

    /// Lets members make calls again.
    public func reset() { _ = iio_group_reset(group) }

    /// Whether the group is cancelled.
    public var isCancelled: Bool { iio_group_cancelled(group) == 1 }
}
