import CInterruptIO
import SystemPackage

/// Runs one wrapper call under `deadline`; returns its result or a negative
/// errno. `.never` adds nothing to the call. A deadline is the call's own
/// (thread-local, `iio_call_deadline_swap`): the tightest of it, the
/// thread's deadline and a descriptor's applies, and restoring it afterwards
/// never undoes a change another thread made to the thread's deadline.
@inlinable @inline(__always)
func withCallDeadline(_ deadline: Deadline, _ call: () -> Int) -> Int {
    if deadline == .never { return call() }
    var previous = UInt64.max
    let set = iio_call_deadline_swap(deadline.uptimeNanoseconds, &previous)
    if set != 0 {
        if set < 0 { return Int(set) }
        iio_swift_start_timer_driver()
    }
    let result = call()
    iio_call_deadline_restore(previous)
    return result
}

/// ``withCallDeadline(_:_:)`` with the negative errno thrown.
@inlinable @inline(__always)
func interruptible(_ deadline: Deadline, _ call: () -> Int) throws(Errno) -> Int {
    let result = withCallDeadline(deadline, call)
    if result < 0 { throw Errno(rawValue: CInt(truncatingIfNeeded: -result)) }
    return result
}

/// A transfer that a looping helper could not finish. Whatever moved
/// before the stop is counted, never lost.
public struct IncompleteTransfer: Error, Sendable, Equatable {
    /// Why it stopped: `Errno.timedOut` (deadline), `Errno.canceled`, any
    /// other errno, or nil for end of file.
    public var errno: Errno?
    /// Bytes moved before the stop.
    public var bytesTransferred: Int

    /// A transfer that stopped for `errno` (nil: end of file) after
    /// `bytesTransferred` bytes.
    public init(errno: Errno?, bytesTransferred: Int) {
        self.errno = errno
        self.bytesTransferred = bytesTransferred
    }

    /// The deadline passed.
    public var isTimeout: Bool { errno == .timedOut }
    /// The thread was cancelled.
    public var isCancellation: Bool { errno == .canceled }
}

/// The loop behind `writeAll` and `read(filling:)`: one call at a time,
/// counting partial transfers, until `buffer` is done.
@inline(__always)
func transferAll(
    count: Int, eofIsError: Bool,
    _ step: (_ offset: Int) throws(Errno) -> Int
) throws(IncompleteTransfer) -> Int {
    var done = 0
    while done < count {
        let moved: Int
        do { moved = try step(done) } catch { throw IncompleteTransfer(errno: error, bytesTransferred: done) }
        if moved == 0 && eofIsError { throw IncompleteTransfer(errno: nil, bytesTransferred: done) }
        done += moved
    }
    return done
}
