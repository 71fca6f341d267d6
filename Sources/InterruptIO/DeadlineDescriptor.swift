import CInterruptIO
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A descriptor with Go's `net.Conn` contract: per-direction deadlines
/// (`SetReadDeadline`, `SetWriteDeadline`, `SetDeadline`) that reach every
/// call in flight, and a ``close()`` that unblocks every caller.
///
/// **Deadlines.** A deadline is absolute and applies to every call in flight
/// in its direction, from any number of threads, and to every later call
/// until it is changed, from any thread at any time: moving it earlier or
/// into the past makes each blocked call re-check (it fails with
/// `Errno.timedOut` if the deadline has passed), moving it later lets them go
/// on, ``Deadline/never`` removes it. Reads, receives and accepts use the read
/// deadline; writes and sends the write deadline. The calling thread's own
/// deadline (``InterruptibleThread/setDeadline(_:)``) and cancellation still
/// apply: the tightest bounds each call.
///
/// **Close.** ``close()`` marks the descriptor closed, interrupts every call in
/// flight on it in both directions, waits until the last of them has left,
/// then closes the number exactly once. Those calls, and every call made
/// later, throw `Errno.badFileDescriptor` (Go's "use of closed network
/// connection") without entering the kernel on the number, so a number that
/// a later `open` reuses is never read or written by an old caller. A call
/// that had already moved bytes returns its count.
///
/// The descriptor **owns** the number: ``close()`` closes it, and so does
/// `deinit` when nobody called ``close()``. Do not close ``fileDescriptor``
/// yourself.
///
/// This is a thin wrapper over the C library's `iio_fd_t` (`iio_fd_wrap`,
/// `iio_fd_set_deadline`, `iio_fd_close`, `iio_fd_read`, ...): C code gets
/// the same semantics from the same implementation.
public final class DeadlineDescriptor: Sendable {
    /// The number, for calls outside this type's contract (socket options,
    /// `fstat`). Valid until ``close()``; after it the number may name a
    /// descriptor someone else opened.
    public let fileDescriptor: FileDescriptor

    /// The C descriptor object; freed (and closed if still open) in deinit.
    private nonisolated(unsafe) let handle: OpaquePointer

    /// Takes ownership of an open descriptor. Throws `Errno.badFileDescriptor`
    /// if `fileDescriptor` is not open. The corresponding C function is
    /// `iio_fd_wrap`.
    public init(_ fileDescriptor: FileDescriptor) throws(Errno) {
        var made: OpaquePointer?
        let result = iio_fd_wrap(fileDescriptor.rawValue, &made)
        guard result == 0, let made else { throw Errno(rawValue: -result) }
        self.fileDescriptor = fileDescriptor
        handle = made
    }

    deinit { iio_fd_free(handle) }

    /// The deadline for reads, receives and accepts.
    public var readDeadline: Deadline {
        Deadline(uptimeNanoseconds: iio_fd_deadline(handle, IIO_FD_READ))
    }

    /// The deadline for writes and sends.
    public var writeDeadline: Deadline {
        Deadline(uptimeNanoseconds: iio_fd_deadline(handle, IIO_FD_WRITE))
    }

    /// Sets the read deadline, for every call in flight and those to come.
    /// Does nothing once the descriptor is closed (every call fails anyway).
    public func setReadDeadline(_ deadline: Deadline) { set(deadline, IIO_FD_READ) }

    /// Sets the write deadline, for every call in flight and those to come.
    public func setWriteDeadline(_ deadline: Deadline) { set(deadline, IIO_FD_WRITE) }

    /// Sets both deadlines.
    public func setDeadline(_ deadline: Deadline) { set(deadline, IIO_FD_BOTH) }

    private func set(_ deadline: Deadline, _ which: CInt) {
        // A deadline still ahead needs the timer thread to fire it.
        if deadline != .never { TimerDriver.ensureRunning() }
        _ = iio_fd_set_deadline(handle, which, deadline.uptimeNanoseconds)
    }

    /// Whether ``close()`` has begun.
    public var isClosed: Bool { iio_fd_closed(handle) != 0 }

    /// Closes the descriptor: every call in flight on it, in any direction,
    /// is interrupted and throws `Errno.badFileDescriptor`; this returns once
    /// the last of them has left and the number is closed. Calls made later
    /// throw the same without touching the number.
    ///
    /// Throws `Errno.badFileDescriptor` if the descriptor was already closed,
    /// `Errno.deadlock` (changing nothing) when called from a signal handler
    /// that interrupted a call on this descriptor on the same thread, and
    /// `close(2)`'s own error otherwise (the number is closed either way).
    /// A call blocked where no signal reaches (a regular file on a slow
    /// disk) keeps it waiting until that call returns. The corresponding C
    /// function is `iio_fd_close`.
    public func close() throws(Errno) {
        let result = iio_fd_close(handle)
        if result < 0 { throw Errno(rawValue: -result) }
    }

    /// Shuts down part of a full-duplex socket connection (`.write` after
    /// the last write tells the peer the end has come). The corresponding C
    /// function is `shutdown`.
    public func shutdown(_ how: ShutdownKind) throws(Errno) {
        let result = iio_fd_shutdown(handle, how.rawValue)
        if result < 0 { throw Errno(rawValue: -result) }
    }

    /// What ``shutdown(_:)`` stops.
    public enum ShutdownKind: Sendable {
        /// No more receptions (`SHUT_RD`).
        case read
        /// No more transmissions: the peer reads end of file (`SHUT_WR`).
        case write
        /// Both (`SHUT_RDWR`).
        case readWrite
        var rawValue: CInt {
            switch self {
            case .read: CInt(SHUT_RD)
            case .write: CInt(SHUT_WR)
            case .readWrite: CInt(SHUT_RDWR)
            }
        }
    }

    private func check(_ result: Int) throws(Errno) -> Int {
        if result < 0 { throw Errno(rawValue: CInt(truncatingIfNeeded: -result)) }
        return result
    }

    /// Reads under the read deadline. The corresponding C function is
    /// `iio_fd_read` (`read`).
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try check(iio_fd_read(handle, buffer.baseAddress, buffer.count))
    }

    /// Writes under the write deadline. The corresponding C function is
    /// `iio_fd_write` (`write`).
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public func write(_ buffer: UnsafeRawBufferPointer) throws(Errno) -> Int {
        try check(iio_fd_write(handle, buffer.baseAddress, buffer.count))
    }

    /// Receives under the read deadline. The corresponding C function is
    /// `iio_fd_recv` (`recv`).
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public func receive(into buffer: UnsafeMutableRawBufferPointer, flags: CInt = 0) throws(Errno) -> Int {
        try check(iio_fd_recv(handle, buffer.baseAddress, buffer.count, flags))
    }

    /// Sends under the write deadline. The corresponding C function is
    /// `iio_fd_send` (`send`).
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public func send(_ buffer: UnsafeRawBufferPointer, flags: CInt = 0) throws(Errno) -> Int {
        try check(iio_fd_send(handle, buffer.baseAddress, buffer.count, flags))
    }

    /// Accepts under the read deadline (Go: a listener's `SetDeadline`); any
    /// number of threads may accept at once. The corresponding C function
    /// is `iio_fd_accept4` (`accept4`).
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public func accept(flags: CInt = CInt(SOCK_CLOEXEC.rawValue)) throws(Errno) -> FileDescriptor {
        FileDescriptor(rawValue: CInt(try check(Int(iio_fd_accept4(handle, nil, nil, flags)))))
    }

    /// Reads up to `count` bytes under the read deadline into a new array
    /// (empty at end of file).
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public func read(upToCount count: Int) throws(Errno) -> [UInt8] {
        try newArray(count: count) { (buffer) throws(Errno) in try read(into: buffer) }
    }

    /// Writes all of `buffer` under the write deadline, across partial writes.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    @discardableResult
    public func writeAll(_ buffer: UnsafeRawBufferPointer) throws(IncompleteTransfer) -> Int {
        try transferAll(count: buffer.count, eofIsError: false) { (offset) throws(Errno) in
            try write(UnsafeRawBufferPointer(rebasing: buffer[offset...]))
        }
    }

    /// Reads exactly `buffer.count` bytes under the read deadline.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    @discardableResult
    public func read(filling buffer: UnsafeMutableRawBufferPointer) throws(IncompleteTransfer) -> Int {
        try transferAll(count: buffer.count, eofIsError: true) { (offset) throws(Errno) in
            try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[offset...]))
        }
    }
}

// The async forms: each synchronous method run on ``BlockingPool``. The
// descriptor's deadline applies when the call starts and while it runs (a
// change reaches it as it reaches a thread's call); a call waiting for a
// pool thread obeys its Task's cancellation and the
// ``InterruptIO/withDeadline(_:isolation:_:)`` scope, and meets the
// descriptor's deadline when it starts.
extension DeadlineDescriptor {
    /// Reads under the read deadline.
    public func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        try await onPool(.never) { () throws(Errno) in try self.read(into: buffer) }
    }

    /// Reads up to `count` bytes under the read deadline into a new array.
    public func read(upToCount count: Int) async throws -> [UInt8] {
        try await onPool(.never) { () throws(Errno) in try self.read(upToCount: count) }
    }

    /// Writes under the write deadline.
    public func write(_ buffer: UnsafeRawBufferPointer) async throws -> Int {
        try await onPool(.never) { () throws(Errno) in try self.write(buffer) }
    }

    /// Receives under the read deadline.
    public func receive(into buffer: UnsafeMutableRawBufferPointer, flags: CInt = 0) async throws -> Int {
        try await onPool(.never) { () throws(Errno) in try self.receive(into: buffer, flags: flags) }
    }

    /// Sends under the write deadline.
    public func send(_ buffer: UnsafeRawBufferPointer, flags: CInt = 0) async throws -> Int {
        try await onPool(.never) { () throws(Errno) in try self.send(buffer, flags: flags) }
    }

    /// Accepts under the read deadline.
    public func accept(flags: CInt = CInt(SOCK_CLOEXEC.rawValue)) async throws -> FileDescriptor {
        try await onPool(.never) { () throws(Errno) in try self.accept(flags: flags) }
    }

    /// Writes all of `buffer` under the write deadline.
    @discardableResult
    public func writeAll(_ buffer: UnsafeRawBufferPointer) async throws -> Int {
        try await onPool(.never, notRun: { IncompleteTransfer(errno: $0, bytesTransferred: 0) }) { () throws(IncompleteTransfer) in
            try self.writeAll(buffer)
        }
    }

    /// Reads exactly `buffer.count` bytes under the read deadline.
    @discardableResult
    public func read(filling buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        try await onPool(.never, notRun: { IncompleteTransfer(errno: $0, bytesTransferred: 0) }) { () throws(IncompleteTransfer) in
            try self.read(filling: buffer)
        }
    }
}
