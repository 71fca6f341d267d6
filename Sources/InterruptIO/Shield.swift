import CInterruptIO

extension InterruptIO {
    /// Runs `body` with the calling thread shielded from cancels: a cancel
    /// (``InterruptibleThread/cancel()``, a sticky cancel, a
    /// ``CancellationGroup``'s) that reaches a call inside `body` does not
    /// end it — the call goes on, nothing lost — and the thread's first
    /// call after the outermost shield throws `Errno.canceled`. Sticky and
    /// group cancels stay in force as always. For a protocol's final write
    /// or a log flush during shutdown.
    ///
    /// Deadlines are not shielded: a call's, the thread's and a
    /// ``DeadlineDescriptor``'s (so `close()` still ends it) apply inside
    /// `body` as outside; give a shielded call a deadline so it cannot hang.
    /// Shields nest, and belong to the thread: use them in synchronous code
    /// (inside a ``BlockingPool/run(deadline:_:)`` operation, say).
    ///
    /// The corresponding C functions are `iio_shield_begin` and
    /// `iio_shield_end`.
    @available(*, noasync, message: "a shield belongs to a thread: use it inside a synchronous operation")
    public static func shielded<R, Failure: Error>(_ body: () throws(Failure) -> R) throws(Failure) -> R {
        iio_shield_begin()
        defer { iio_shield_end() }
        return try body()
    }

    /// Whether the calling thread is inside ``shielded(_:)``.
    public static var isShielded: Bool { iio_shielded() == 1 }

    /// Whether a cancel is in force for the calling thread: a sticky
    /// cancel, a cancelled group it belongs to, or a cancel a shield kept.
    /// Its next interruptible call then throws `Errno.canceled` without
    /// running; inside ``shielded(_:)``, the first call after it (the C
    /// function is `iio_self_cancelled`).
    public static var isCurrentThreadCancelled: Bool { iio_self_cancelled() == 1 }
}
