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
    public static func withDeadline<R, Failure: Error>(
        _ deadline: Deadline, isolation: isolated (any Actor)? = #isolation,
        _ operation: () async throws(Failure) -> R
    ) async throws(Failure) -> R {
        let outcome: Result<R, Failure> = await $taskDeadline.withValue(min(deadline, taskDeadline), operation: {
            do throws(Failure) { return .success(try await operation()) } catch { return .failure(error) }
        }, isolation: isolation)
        return try outcome.get()
    }

    /// The deadline of the innermost ``withDeadline(_:isolation:_:)`` scope.
    public static var currentTaskDeadline: Deadline { taskDeadline }
}

// The async forms: each is its synchronous twin (FileDescriptor+
// Interruptible.swift) run on ``BlockingPool`` through the one bridge,
// ``BlockingPool/run(deadline:_:)`` — never on Swift's cooperative threads.
//
// - Cancelling the awaiting Task makes the call throw `CancellationError`
//   promptly, wherever it is (queued or blocked in the kernel); the
//   descriptor stays usable. The looping helpers throw
//   ``IncompleteTransfer`` with `errno == .canceled` instead, so the count
//   moved is never lost.
// - `deadline` combines with ``InterruptIO/withDeadline(_:isolation:_:)``:
//   the tighter bounds the wait for a pool thread and the call.
// - Everything else (errors, partial transfers, `EINTR`) is the sync form's.
extension FileDescriptor {
    /// Reads into `buffer`; the corresponding C function is `read`.
    public func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline) async throws -> Int {
        try await onPool(deadline) { () throws(Errno) in try read(into: buffer, deadline: deadline) }
    }

    /// Reads at `offset`; the corresponding C function is `pread`.
    public func read(
        fromAbsoluteOffset offset: Int64, into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline
    ) async throws -> Int {
        try await onPool(deadline) { () throws(Errno) in try read(fromAbsoluteOffset: offset, into: buffer, deadline: deadline) }
    }

    /// Writes `buffer`; the corresponding C function is `write`.
    public func write(_ buffer: UnsafeRawBufferPointer, deadline: Deadline) async throws -> Int {
        try await onPool(deadline) { () throws(Errno) in try write(buffer, deadline: deadline) }
    }

    /// Writes at `offset`; the corresponding C function is `pwrite`.
    public func write(
        toAbsoluteOffset offset: Int64, _ buffer: UnsafeRawBufferPointer, deadline: Deadline
    ) async throws -> Int {
        try await onPool(deadline) { () throws(Errno) in try write(toAbsoluteOffset: offset, buffer, deadline: deadline) }
    }

    /// Reads into several buffers (scatter); the corresponding C function is
    /// `readv` (`preadv` with an offset).
    public func read(
        intoBuffers buffers: [UnsafeMutableRawBufferPointer], atAbsoluteOffset offset: Int64? = nil, deadline: Deadline
    ) async throws -> Int {
        try await onPool(deadline) { () throws(Errno) in
            try read(intoBuffers: buffers, atAbsoluteOffset: offset, deadline: deadline)
        }
    }

    /// Writes from several buffers (gather); the corresponding C function is
    /// `writev` (`pwritev` with an offset).
    public func write(
        buffers: [UnsafeRawBufferPointer], atAbsoluteOffset offset: Int64? = nil, deadline: Deadline
    ) async throws -> Int {
        try await onPool(deadline) { () throws(Errno) in try write(buffers: buffers, atAbsoluteOffset: offset, deadline: deadline) }
    }

    /// Receives from a socket; the corresponding C function is `recv`.
    public func receive(
        into buffer: UnsafeMutableRawBufferPointer, flags: CInt = 0, deadline: Deadline
    ) async throws -> Int {
        try await onPool(deadline) { () throws(Errno) in try receive(into: buffer, flags: flags, deadline: deadline) }
    }

    /// Receives from a socket with the sender's address; the corresponding C
    /// function is `recvfrom`.
    public func receive(
        into buffer: UnsafeMutableRawBufferPointer, flags: CInt = 0,
        sender: UnsafeMutablePointer<sockaddr>?, senderLength: UnsafeMutablePointer<socklen_t>?,
        deadline: Deadline
    ) async throws -> Int {
        try await onPool(deadline) { () throws(Errno) in
            try receive(into: buffer, flags: flags, sender: sender, senderLength: senderLength, deadline: deadline)
        }
    }

    /// Sends on a connected socket; the corresponding C function is `send`.
    public func send(_ buffer: UnsafeRawBufferPointer, flags: CInt = 0, deadline: Deadline) async throws -> Int {
        try await onPool(deadline) { () throws(Errno) in try send(buffer, flags: flags, deadline: deadline) }
    }

    /// Sends to an address; the corresponding C function is `sendto`.
    public func send(
        _ buffer: UnsafeRawBufferPointer, flags: CInt = 0,
        to address: UnsafePointer<sockaddr>, addressLength: socklen_t, deadline: Deadline
    ) async throws -> Int {
        try await onPool(deadline) { () throws(Errno) in
            try send(buffer, flags: flags, to: address, addressLength: addressLength, deadline: deadline)
        }
    }

    /// Receives a message; the corresponding C function is `recvmsg`.
    public func receiveMessage(
        _ message: UnsafeMutablePointer<msghdr>, flags: CInt = 0, deadline: Deadline
    ) async throws -> Int {
        try await onPool(deadline) { () throws(Errno) in try receiveMessage(message, flags: flags, deadline: deadline) }
    }

    /// Sends a message; the corresponding C function is `sendmsg`.
    public func sendMessage(
        _ message: UnsafePointer<msghdr>, flags: CInt = 0, deadline: Deadline
    ) async throws -> Int {
        try await onPool(deadline) { () throws(Errno) in try sendMessage(message, flags: flags, deadline: deadline) }
    }

    /// Accepts a connection, with the peer's address when asked; the
    /// corresponding C function is `accept4`.
    public func accept(
        peer: UnsafeMutablePointer<sockaddr>? = nil, peerLength: UnsafeMutablePointer<socklen_t>? = nil,
        flags: CInt = CInt(SOCK_CLOEXEC.rawValue), deadline: Deadline
    ) async throws -> FileDescriptor {
        try await onPool(deadline) { () throws(Errno) in try accept(peer: peer, peerLength: peerLength, flags: flags, deadline: deadline) }
    }

    /// Connects a socket; after a cancel or timeout the kernel goes on with
    /// the attempt (see the synchronous form). The corresponding C function
    /// is `connect`.
    public func connect(to address: UnsafePointer<sockaddr>, length: socklen_t, deadline: Deadline) async throws {
        try await onPool(deadline) { () throws(Errno) in try connect(to: address, length: length, deadline: deadline) }
    }

    /// Waits for a connect in progress and throws its error, if any.
    public func finishConnect(deadline: Deadline) async throws {
        try await onPool(deadline) { () throws(Errno) in try finishConnect(deadline: deadline) }
    }

    /// Opens a file (a FIFO blocks until its other end opens); the
    /// corresponding C function is `openat`.
    public static func open(
        _ path: FilePath, _ mode: AccessMode, options: OpenOptions = [.closeOnExec],
        permissions: FilePermissions? = nil, deadline: Deadline
    ) async throws -> FileDescriptor {
        try await onPool(deadline) { () throws(Errno) in
            try open(path, mode, options: options, permissions: permissions, deadline: deadline)
        }
    }

    /// Waits for events; `timeout` nil waits without limit. The
    /// corresponding C function is `poll`.
    public static func poll(
        _ descriptors: UnsafeMutableBufferPointer<pollfd>, timeout: Duration? = nil, deadline: Deadline
    ) async throws -> Int {
        try await onPool(deadline) { () throws(Errno) in try poll(descriptors, timeout: timeout, deadline: deadline) }
    }

    /// Writes all of `buffer`, across partial writes, in one pool call.
    @discardableResult
    public func writeAll(_ buffer: UnsafeRawBufferPointer, deadline: Deadline) async throws -> Int {
        try await onPool(deadline, notRun: countedNothing) { () throws(IncompleteTransfer) in
            try writeAll(buffer, deadline: deadline)
        }
    }

    /// Reads exactly `buffer.count` bytes, in one pool call.
    @discardableResult
    public func read(filling buffer: UnsafeMutableRawBufferPointer, deadline: Deadline) async throws -> Int {
        try await onPool(deadline, notRun: countedNothing) { () throws(IncompleteTransfer) in
            try read(filling: buffer, deadline: deadline)
        }
    }

    /// Reads up to `count` bytes; an empty result is the end of file.
    public func read(upToCount count: Int, deadline: Deadline) async throws -> [UInt8] {
        try await onPool(deadline) { () throws(Errno) in try read(upToCount: count, deadline: deadline) }
    }

    /// Reads exactly `count` bytes.
    public func read(exactly count: Int, deadline: Deadline) async throws -> [UInt8] {
        try await onPool(deadline, notRun: countedNothing) { () throws(IncompleteTransfer) in
            try read(exactly: count, deadline: deadline)
        }
    }

    /// Writes some of `bytes` and returns how many.
    public func write(_ bytes: [UInt8], deadline: Deadline) async throws -> Int {
        try await onPool(deadline) { () throws(Errno) in try write(bytes, deadline: deadline) }
    }

    /// Writes all of `bytes` (gathered into an array once unless it is one).
    @discardableResult
    public func writeAll<Bytes: Sequence<UInt8>>(_ bytes: Bytes, deadline: Deadline) async throws -> Int {
        let array = bytes as? [UInt8] ?? Array(bytes)
        return try await onPool(deadline, notRun: countedNothing) { () throws(IncompleteTransfer) in
            try writeAll(array, deadline: deadline)
        }
    }
}

/// A looping helper that never ran moved nothing.
private func countedNothing(_ errno: Errno) -> any Error {
    IncompleteTransfer(errno: errno, bytesTransferred: 0)
}
