import CInterruptIO
import SystemPackage

/// A handle naming one thread, by which any other thread can cancel the
/// interruptible call it is making.
///
/// Handles stay safe after the thread exits: cancelling then throws
/// `Errno.noSuchProcess` and never signals a thread that reused its id.
public struct InterruptibleThread: Sendable, Hashable {
    /// The handle as one word (record index, incarnation, a valid bit).
    public let packed: UInt64

    init(_ raw: iio_thread_t) { packed = iio_thread_pack(raw) }

    var raw: iio_thread_t { iio_thread_unpack(packed) }

    /// The calling thread, registered on first use. Registration unblocks
    /// the library's signal in this thread's mask.
    ///
    /// The corresponding C function is `iio_self`.
    public static func current() throws(Errno) -> InterruptibleThread {
        var raw = iio_thread_t()
        let result = iio_self(&raw)
        if result < 0 { throw Errno(rawValue: -result) }
        return InterruptibleThread(raw)
    }

    /// Whether a signal sent to the calling thread would interrupt it now:
    /// set up, our handler in place, the signal not blocked in its mask.
    public static var isCurrentInterruptible: Bool { iio_thread_interruptible() == 1 }

    /// Cancels the call the thread is making now, if any; its later calls
    /// are not affected.
    ///
    /// - Returns: true when a call was in flight: it throws `Errno.canceled`
    ///   or returns what it had already done (a partial count).
    /// - Throws: `Errno.noSuchProcess` when the thread has exited.
    ///
    /// The corresponding C function is `iio_cancel`.
    @discardableResult
    public func cancel() throws(Errno) -> Bool {
        try Self.check(iio_cancel(raw)) == 1
    }

    /// Cancels the call in flight and makes every later call fail with
    /// `Errno.canceled` without blocking, until ``clearCancel()``.
    ///
    /// The corresponding C function is `iio_cancel_sticky`.
    @discardableResult
    public func cancelSticky() throws(Errno) -> Bool {
        try Self.check(iio_cancel_sticky(raw)) == 1
    }

    /// Ends a sticky cancel. The corresponding C function is `iio_clear_cancel`.
    public func clearCancel() throws(Errno) {
        _ = try Self.check(iio_clear_cancel(raw))
    }

    /// Gives the thread a new deadline that applies at once to its call in
    /// flight: a passed one interrupts it, a later one lets it go on.
    ///
    /// The corresponding C function is `iio_deadline_set_for`.
    public func setDeadline(_ deadline: Deadline) throws(Errno) {
        if deadline != .never { TimerDriver.ensureRunning() }
        _ = try Self.check(iio_deadline_set_for(raw, deadline.uptimeNanoseconds))
    }

    private static func check(_ result: CInt) throws(Errno) -> CInt {
        if result < 0 { throw Errno(rawValue: -result) }
        return result
    }
}
