import CInterruptIO
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension InterruptIO {
    @TaskLocal static var taskDeadline: Deadline = .never

    /// Runs `operation` with a deadline that bounds every async
    /// interruptible call in it (and in its child tasks): a request-level
    /// timeout around several operations. Nested scopes keep the earlier.
    public static func withDeadline<R>(
        _ deadline: Deadline, isolation: isolated (any Actor)? = #isolation,
        _ operation: () async throws -> R
    ) async rethrows -> R {
        try await $taskDeadline.withValue(min(deadline, taskDeadline), operation: operation, isolation: isolation)
    }

    /// The deadline of the innermost ``withDeadline(_:isolation:_:)`` scope.
    public static var currentTaskDeadline: Deadline { taskDeadline }
}

/// Lets the caller's buffer cross to the pool thread: the caller awaits the
/// call's completion (even when cancelled), so the buffer outlives its use.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
}

/// Runs a wrapper call on ``BlockingPool`` under the tighter of `deadline`
/// and the task's deadline; the awaiting Task's cancellation interrupts it.
func interruptibleAsync(_ deadline: Deadline, _ call: @escaping @Sendable () -> Int) async throws(Errno) -> Int {
    let effective = min(deadline, InterruptIO.taskDeadline)
    if Task.isCancelled { throw .canceled }
    let result = await BlockingPool.run { withCallDeadline(effective, call) }
    if result < 0 { throw Errno(rawValue: CInt(truncatingIfNeeded: -result)) }
    return result
}

// Async forms: the blocking call runs on the library's own thread pool,
// never on Swift's cooperative threads. Cancelling the awaiting Task makes
// the call throw `Errno.canceled` promptly, wherever it is; the descriptor
// stays usable. `deadline` combines with InterruptIO.withDeadline.
extension FileDescriptor {
    /// Reads into `buffer`; the corresponding C function is `read`.
    public func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline) async throws(Errno) -> Int {
        let b = UncheckedSendable(value: buffer), fd = rawValue
        return try await interruptibleAsync(deadline) { iio_read(fd, b.value.baseAddress, b.value.count) }
    }

    /// Writes `buffer`; the corresponding C function is `write`.
    public func write(_ buffer: UnsafeRawBufferPointer, deadline: Deadline) async throws(Errno) -> Int {
        let b = UncheckedSendable(value: buffer), fd = rawValue
        return try await interruptibleAsync(deadline) { iio_write(fd, b.value.baseAddress, b.value.count) }
    }

    /// Receives from a socket; the corresponding C function is `recv`.
    public func receive(
        into buffer: UnsafeMutableRawBufferPointer, flags: CInt = 0, deadline: Deadline
    ) async throws(Errno) -> Int {
        let b = UncheckedSendable(value: buffer), fd = rawValue
        return try await interruptibleAsync(deadline) { iio_recv(fd, b.value.baseAddress, b.value.count, flags) }
    }

    /// Sends on a socket; the corresponding C function is `send`.
    public func send(_ buffer: UnsafeRawBufferPointer, flags: CInt = 0, deadline: Deadline) async throws(Errno) -> Int {
        let b = UncheckedSendable(value: buffer), fd = rawValue
        return try await interruptibleAsync(deadline) { iio_send(fd, b.value.baseAddress, b.value.count, flags) }
    }

    /// Accepts a connection; the corresponding C function is `accept4`.
    public func accept(flags: CInt = CInt(SOCK_CLOEXEC.rawValue), deadline: Deadline) async throws(Errno) -> FileDescriptor {
        let fd = rawValue
        return FileDescriptor(rawValue: CInt(try await interruptibleAsync(deadline) { Int(iio_accept4(fd, nil, nil, flags)) }))
    }

    /// Reads at `offset`; the corresponding C function is `pread`.
    public func read(
        fromAbsoluteOffset offset: Int64, into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline
    ) async throws(Errno) -> Int {
        let b = UncheckedSendable(value: buffer), fd = rawValue
        return try await interruptibleAsync(deadline) { iio_pread(fd, b.value.baseAddress, b.value.count, off_t(offset)) }
    }

    /// Writes at `offset`; the corresponding C function is `pwrite`.
    public func write(
        toAbsoluteOffset offset: Int64, _ buffer: UnsafeRawBufferPointer, deadline: Deadline
    ) async throws(Errno) -> Int {
        let b = UncheckedSendable(value: buffer), fd = rawValue
        return try await interruptibleAsync(deadline) { iio_pwrite(fd, b.value.baseAddress, b.value.count, off_t(offset)) }
    }

    /// Receives a message; the corresponding C function is `recvmsg`.
    public func receiveMessage(
        _ message: UnsafeMutablePointer<msghdr>, flags: CInt = 0, deadline: Deadline
    ) async throws(Errno) -> Int {
        let m = UncheckedSendable(value: message), fd = rawValue
        return try await interruptibleAsync(deadline) { iio_recvmsg(fd, m.value, flags) }
    }

    /// Sends a message; the corresponding C function is `sendmsg`.
    public func sendMessage(
        _ message: UnsafePointer<msghdr>, flags: CInt = 0, deadline: Deadline
    ) async throws(Errno) -> Int {
        let m = UncheckedSendable(value: message), fd = rawValue
        return try await interruptibleAsync(deadline) { iio_sendmsg(fd, m.value, flags) }
    }

    /// Connects a socket; after a cancel or timeout the kernel goes on with
    /// the attempt (see the synchronous form). The corresponding C function
    /// is `connect`.
    public func connect(to address: UnsafePointer<sockaddr>, length: socklen_t, deadline: Deadline) async throws(Errno) {
        let a = UncheckedSendable(value: address), fd = rawValue
        _ = try await interruptibleAsync(deadline) { Int(iio_connect(fd, a.value, length)) }
    }

    /// Waits for a connect in progress and throws its error, if any.
    public func finishConnect(deadline: Deadline) async throws(Errno) {
        let fd = rawValue
        _ = try await interruptibleAsync(deadline) { Int(iio_connect_finish(fd)) }
    }

    /// Opens a file (a FIFO blocks until its other end opens); the
    /// corresponding C function is `openat`.
    public static func open(
        _ path: FilePath, _ mode: AccessMode, options: OpenOptions = [.closeOnExec],
        permissions: FilePermissions? = nil, deadline: Deadline
    ) async throws(Errno) -> FileDescriptor {
        let flags = mode.rawValue | options.rawValue
        let perms = mode_t(permissions?.rawValue ?? 0)
        let cPath = UncheckedSendable(value: path.withPlatformString { strdup($0) })
        defer { free(cPath.value) }
        let fd = try await interruptibleAsync(deadline) { Int(iio_openat(AT_FDCWD, cPath.value, flags, perms)) }
        return FileDescriptor(rawValue: CInt(fd))
    }

    /// Waits for events; the corresponding C function is `poll`.
    public static func poll(
        _ descriptors: UnsafeMutableBufferPointer<pollfd>, deadline: Deadline
    ) async throws(Errno) -> Int {
        let d = UncheckedSendable(value: descriptors)
        return try await interruptibleAsync(deadline) { Int(iio_poll(d.value.baseAddress, nfds_t(d.value.count), -1)) }
    }

    /// Writes all of `buffer`, across partial writes, in one pool call.
    @discardableResult
    public func writeAll(_ buffer: UnsafeRawBufferPointer, deadline: Deadline) async throws(IncompleteTransfer) -> Int {
        let b = UncheckedSendable(value: buffer), fd = self
        let effective = min(deadline, InterruptIO.taskDeadline)
        return try await loopOnPool(count: buffer.count) { offset in
            withCallDeadline(effective) {
                iio_write(fd.rawValue, b.value.baseAddress! + offset, b.value.count - offset)
            }
        }
    }

    /// Reads exactly `buffer.count` bytes, in one pool call.
    @discardableResult
    public func read(filling buffer: UnsafeMutableRawBufferPointer, deadline: Deadline) async throws(IncompleteTransfer) -> Int {
        let b = UncheckedSendable(value: buffer), fd = self
        let effective = min(deadline, InterruptIO.taskDeadline)
        return try await loopOnPool(count: buffer.count, eofIsError: true) { offset in
            withCallDeadline(effective) {
                iio_read(fd.rawValue, b.value.baseAddress! + offset, b.value.count - offset)
            }
        }
    }
}

/// Runs a transfer loop on one pool thread; the count moved travels back
/// in the error when it stops early.
private func loopOnPool(
    count: Int, eofIsError: Bool = false, _ step: @escaping @Sendable (Int) -> Int
) async throws(IncompleteTransfer) -> Int {
    if count == 0 { return 0 }
    let outcome = UncheckedSendable(value: Box())
    let done = await BlockingPool.run {
        var moved = 0
        while moved < count {
            let r = step(moved)
            if r < 0 { outcome.value.errno = Errno(rawValue: CInt(truncatingIfNeeded: -r)); break }
            if r == 0 && eofIsError { outcome.value.eof = true; break }
            moved += r
        }
        return moved
    }
    if let errno = outcome.value.errno { throw IncompleteTransfer(errno: errno, bytesTransferred: done) }
    if outcome.value.eof { throw IncompleteTransfer(errno: nil, bytesTransferred: done) }
    return done
}

private final class Box {
    var errno: Errno?
    var eof = false
}

// Array forms, for async code where an unsafe buffer cannot be held across
// an await.
extension FileDescriptor {
    /// Reads up to `count` bytes; an empty result is the end of file.
    public func read(upToCount count: Int, deadline: Deadline) async throws(Errno) -> [UInt8] {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 1)
        defer { buffer.deallocate() }
        let n = try await read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<count]), deadline: deadline)
        return [UInt8](buffer[..<n])
    }

    /// Reads exactly `count` bytes.
    public func read(exactly count: Int, deadline: Deadline) async throws(IncompleteTransfer) -> [UInt8] {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 1)
        defer { buffer.deallocate() }
        try await read(filling: UnsafeMutableRawBufferPointer(rebasing: buffer[..<count]), deadline: deadline)
        return [UInt8](buffer[..<count])
    }

    /// Writes some of `bytes` and returns how many.
    public func write(_ bytes: [UInt8], deadline: Deadline) async throws(Errno) -> Int {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        defer { buffer.deallocate() }
        buffer.copyBytes(from: bytes)
        return try await write(UnsafeRawBufferPointer(rebasing: buffer[..<bytes.count]), deadline: deadline)
    }

    /// Writes all of `bytes`.
    @discardableResult
    public func writeAll(_ bytes: [UInt8], deadline: Deadline) async throws(IncompleteTransfer) -> Int {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        defer { buffer.deallocate() }
        buffer.copyBytes(from: bytes)
        return try await writeAll(UnsafeRawBufferPointer(rebasing: buffer[..<bytes.count]), deadline: deadline)
    }
}
