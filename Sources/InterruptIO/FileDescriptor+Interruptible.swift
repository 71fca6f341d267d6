import CInterruptIO
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Interruptible, deadline-bounded forms of the blocking calls. Every method
// here can be cancelled from another thread through the calling thread's
// ``InterruptibleThread`` handle, and fails with `Errno.timedOut` once
// `deadline` has passed (a deadline already passed fails at once, without
// entering the kernel, even when data is ready). Pass `.never` for no
// deadline: the call is then exactly as costly as the C wrapper.
//
// - `Errno.canceled`: the thread was cancelled.
// - `Errno.timedOut`: the deadline passed.
// - A partial transfer is returned as its count, never thrown.
// - An `EINTR` that is not ours is retried; it is never thrown, because a
//   stray copy of our own signal may cause one.
//
// These forms block the calling thread, so they are unavailable from async
// code (`noasync`): there every one has an async twin (AsyncIO.swift), the
// same call run on ``BlockingPool``. Code that runs on a thread of its own
// calls them from its synchronous functions.
extension FileDescriptor {
    /// Reads bytes at the current file offset into a buffer.
    ///
    /// The corresponding C function is `read` (through `iio_read`).
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    @inlinable
    public func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline) throws(Errno) -> Int {
        try interruptible(deadline) { iio_read(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Reads bytes at `offset` without moving the file offset.
    ///
    /// The corresponding C function is `pread`.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    @inlinable
    public func read(
        fromAbsoluteOffset offset: Int64, into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline
    ) throws(Errno) -> Int {
        try interruptible(deadline) { iio_pread(rawValue, buffer.baseAddress, buffer.count, off_t(offset)) }
    }

    /// Writes bytes at the current file offset.
    ///
    /// The corresponding C function is `write`.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    @inlinable
    public func write(_ buffer: UnsafeRawBufferPointer, deadline: Deadline) throws(Errno) -> Int {
        try interruptible(deadline) { iio_write(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Writes bytes at `offset` without moving the file offset.
    ///
    /// The corresponding C function is `pwrite`.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    @inlinable
    public func write(
        toAbsoluteOffset offset: Int64, _ buffer: UnsafeRawBufferPointer, deadline: Deadline
    ) throws(Errno) -> Int {
        try interruptible(deadline) { iio_pwrite(rawValue, buffer.baseAddress, buffer.count, off_t(offset)) }
    }

    /// Reads into several buffers in one call (scatter).
    ///
    /// The corresponding C function is `readv` (`preadv` with an offset).
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public func read(
        intoBuffers buffers: some Collection<UnsafeMutableRawBufferPointer>,
        atAbsoluteOffset offset: Int64? = nil, deadline: Deadline
    ) throws(Errno) -> Int {
        try withIOVectors(buffers.lazy.map { ($0.baseAddress, $0.count) }) { (vectors, count) throws(Errno) in
            try interruptible(deadline) {
                if let offset { return iio_preadv(rawValue, vectors, count, off_t(offset)) }
                return iio_readv(rawValue, vectors, count)
            }
        }
    }

    /// Writes from several buffers in one call (gather).
    ///
    /// The corresponding C function is `writev` (`pwritev` with an offset).
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public func write(
        buffers: some Collection<UnsafeRawBufferPointer>,
        atAbsoluteOffset offset: Int64? = nil, deadline: Deadline
    ) throws(Errno) -> Int {
        try withIOVectors(buffers.lazy.map { (UnsafeMutableRawPointer(mutating: $0.baseAddress), $0.count) }) {
            (vectors, count) throws(Errno) in
            try interruptible(deadline) {
                if let offset { return iio_pwritev(rawValue, vectors, count, off_t(offset)) }
                return iio_writev(rawValue, vectors, count)
            }
        }
    }

    /// Receives from a socket.
    ///
    /// The corresponding C function is `recv`.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    @inlinable
    public func receive(
        into buffer: UnsafeMutableRawBufferPointer, flags: CInt = 0, deadline: Deadline
    ) throws(Errno) -> Int {
        try interruptible(deadline) { iio_recv(rawValue, buffer.baseAddress, buffer.count, flags) }
    }

    /// Receives from a socket, with the sender's address.
    ///
    /// The corresponding C function is `recvfrom`.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    @inlinable
    public func receive(
        into buffer: UnsafeMutableRawBufferPointer, flags: CInt = 0,
        sender: UnsafeMutablePointer<sockaddr>?, senderLength: UnsafeMutablePointer<socklen_t>?,
        deadline: Deadline
    ) throws(Errno) -> Int {
        try interruptible(deadline) {
            iio_recvfrom(rawValue, buffer.baseAddress, buffer.count, flags, sender, senderLength)
        }
    }

    /// Sends on a connected socket.
    ///
    /// The corresponding C function is `send`.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    @inlinable
    public func send(_ buffer: UnsafeRawBufferPointer, flags: CInt = 0, deadline: Deadline) throws(Errno) -> Int {
        try interruptible(deadline) { iio_send(rawValue, buffer.baseAddress, buffer.count, flags) }
    }

    /// Sends to an address.
    ///
    /// The corresponding C function is `sendto`.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    @inlinable
    public func send(
        _ buffer: UnsafeRawBufferPointer, flags: CInt = 0,
        to address: UnsafePointer<sockaddr>, addressLength: socklen_t, deadline: Deadline
    ) throws(Errno) -> Int {
        try interruptible(deadline) {
            iio_sendto(rawValue, buffer.baseAddress, buffer.count, flags, address, addressLength)
        }
    }

    /// Receives a message.
    ///
    /// The corresponding C function is `recvmsg`.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    @inlinable
    public func receiveMessage(
        _ message: UnsafeMutablePointer<msghdr>, flags: CInt = 0, deadline: Deadline
    ) throws(Errno) -> Int {
        try interruptible(deadline) { iio_recvmsg(rawValue, message, flags) }
    }

    /// Sends a message.
    ///
    /// The corresponding C function is `sendmsg`.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    @inlinable
    public func sendMessage(
        _ message: UnsafePointer<msghdr>, flags: CInt = 0, deadline: Deadline
    ) throws(Errno) -> Int {
        try interruptible(deadline) { iio_sendmsg(rawValue, message, flags) }
    }

    /// Accepts a connection; the new descriptor is close-on-exec.
    ///
    /// The corresponding C function is `accept4`.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    @inlinable
    public func accept(
        peer: UnsafeMutablePointer<sockaddr>? = nil, peerLength: UnsafeMutablePointer<socklen_t>? = nil,
        flags: CInt = CInt(SOCK_CLOEXEC.rawValue), deadline: Deadline
    ) throws(Errno) -> FileDescriptor {
        let fd = try interruptible(deadline) { Int(iio_accept4(rawValue, peer, peerLength, flags)) }
        return FileDescriptor(rawValue: CInt(fd))
    }

    /// Connects a socket.
    ///
    /// When the call is cancelled or times out, the kernel goes on with the
    /// attempt: collect its outcome with ``finishConnect(deadline:)-3ihwo``
    /// (calling this again on a blocking socket waits for the same attempt).
    ///
    /// The corresponding C function is `connect`.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    @inlinable
    public func connect(to address: UnsafePointer<sockaddr>, length: socklen_t, deadline: Deadline) throws(Errno) {
        _ = try interruptible(deadline) { Int(iio_connect(rawValue, address, length)) }
    }

    /// Waits for a connect in progress and throws its error, if any.
    ///
    /// The corresponding C calls are `poll` for `POLLOUT`, then
    /// `getsockopt(SO_ERROR)`.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    @inlinable
    public func finishConnect(deadline: Deadline) throws(Errno) {
        _ = try interruptible(deadline) { Int(iio_connect_finish(rawValue)) }
    }

    /// Waits for events on descriptors; `timeout` nil waits without limit
    /// (the deadline still applies).
    ///
    /// The corresponding C function is `poll` (through `ppoll`).
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public static func poll(
        _ descriptors: UnsafeMutableBufferPointer<pollfd>, timeout: Duration? = nil, deadline: Deadline
    ) throws(Errno) -> Int {
        let milliseconds: CInt
        if let timeout {
            // Rounded up to whole milliseconds: poll never returns early.
            let nanoseconds = max(0, Deadline.saturatingNanoseconds(timeout, rounding: .up))
            let (whole, part) = nanoseconds.quotientAndRemainder(dividingBy: 1_000_000)
            milliseconds = CInt(clamping: whole + (part > 0 ? 1 : 0))
        } else {
            milliseconds = -1
        }
        return try interruptible(deadline) {
            Int(iio_poll(descriptors.baseAddress, nfds_t(descriptors.count), milliseconds))
        }
    }

    /// Opens a file; opening a FIFO blocks until the other side opens it,
    /// which this form can interrupt.
    ///
    /// The corresponding C function is `openat` (relative to the current
    /// directory).
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public static func open(
        _ path: FilePath, _ mode: AccessMode, options: OpenOptions = [.closeOnExec],
        permissions: FilePermissions? = nil, deadline: Deadline
    ) throws(Errno) -> FileDescriptor {
        let flags = mode.rawValue | options.rawValue
        let perms = mode_t(permissions?.rawValue ?? 0)
        let fd = path.withPlatformString { cPath in
            withCallDeadline(deadline) { Int(iio_openat(AT_FDCWD, cPath, flags, perms)) }
        }
        if fd < 0 { throw Errno(rawValue: CInt(-fd)) }
        return FileDescriptor(rawValue: CInt(fd))
    }

    // MARK: Helpers that loop

    /// Writes all of `buffer` before `deadline`, across partial writes.
    ///
    /// - Throws: ``IncompleteTransfer`` with the count written when the
    ///   deadline passes, the thread is cancelled or a write fails.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    @discardableResult
    public func writeAll(_ buffer: UnsafeRawBufferPointer, deadline: Deadline) throws(IncompleteTransfer) -> Int {
        try transferAll(count: buffer.count, eofIsError: false) { (offset) throws(Errno) in
            try write(UnsafeRawBufferPointer(rebasing: buffer[offset...]), deadline: deadline)
        }
    }

    /// Reads exactly `buffer.count` bytes before `deadline`.
    ///
    /// - Throws: ``IncompleteTransfer`` with the count read when the deadline
    ///   passes, the thread is cancelled, a read fails, or the end of file
    ///   comes first (`errno` nil).
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    @discardableResult
    public func read(filling buffer: UnsafeMutableRawBufferPointer, deadline: Deadline) throws(IncompleteTransfer) -> Int {
        try transferAll(count: buffer.count, eofIsError: true) { (offset) throws(Errno) in
            try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[offset...]), deadline: deadline)
        }
    }
}

// Array and sequence forms.
extension FileDescriptor {
    /// Reads up to `count` bytes into a new array (filled in place, copied
    /// once); an empty result is the end of file.
    ///
    /// The corresponding C function is `read`.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public func read(upToCount count: Int, deadline: Deadline) throws(Errno) -> [UInt8] {
        try newArray(count: count) { (buffer) throws(Errno) in try read(into: buffer, deadline: deadline) }
    }

    /// Reads exactly `count` bytes into a new array.
    ///
    /// - Throws: ``IncompleteTransfer`` as ``read(filling:deadline:)-5afic``; the
    ///   bytes read before the stop are counted but not returned (read into
    ///   a buffer of your own with ``read(filling:deadline:)-5afic`` to keep them).
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public func read(exactly count: Int, deadline: Deadline) throws(IncompleteTransfer) -> [UInt8] {
        try newArray(count: count) { (buffer) throws(IncompleteTransfer) in try read(filling: buffer, deadline: deadline) }
    }

    /// Writes some of `bytes` and returns how many.
    ///
    /// The corresponding C function is `write`.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public func write(_ bytes: [UInt8], deadline: Deadline) throws(Errno) -> Int {
        let written = bytes.withUnsafeBytes { buffer in withCallDeadline(deadline) { iio_write(rawValue, buffer.baseAddress, buffer.count) } }
        if written < 0 { throw Errno(rawValue: CInt(truncatingIfNeeded: -written)) }
        return written
    }

    /// Writes all of `bytes` (any sequence: contiguous storage is written
    /// in place, anything else is gathered into an array first).
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    @discardableResult
    public func writeAll<Bytes: Sequence<UInt8>>(_ bytes: Bytes, deadline: Deadline) throws(IncompleteTransfer) -> Int {
        let written: Result<Int, IncompleteTransfer>? = bytes.withContiguousStorageIfAvailable { storage in
            do throws(IncompleteTransfer) {
                return .success(try writeAll(UnsafeRawBufferPointer(storage), deadline: deadline))
            } catch { return .failure(error) }
        }
        if let written { return try written.get() }
        return try writeAll(Array(bytes), deadline: deadline)
    }
}

/// An array of `count` bytes filled in place by `fill`, which returns how
/// many it initialised (no second copy).
func newArray<Failure: Error>(
    count: Int, _ fill: (UnsafeMutableRawBufferPointer) throws(Failure) -> Int
) throws(Failure) -> [UInt8] {
    var failure: Failure?
    let bytes = [UInt8](unsafeUninitializedCapacity: max(count, 0)) { buffer, initialized in
        do throws(Failure) {
            initialized = try fill(UnsafeMutableRawBufferPointer(buffer))
        } catch {
            failure = error
            initialized = 0
        }
    }
    if let failure { throw failure }
    return bytes
}

/// Lays buffers out as iovecs on the stack for one vectored call.
private func withIOVectors<R>(
    _ buffers: some Collection<(UnsafeMutableRawPointer?, Int)>,
    _ body: (UnsafePointer<iovec>, CInt) throws(Errno) -> R
) throws(Errno) -> R {
    let count = buffers.count
    return try withUnsafeTemporaryAllocation(of: iovec.self, capacity: max(count, 1)) { vectors throws(Errno) in
        for (index, buffer) in buffers.enumerated() {
            vectors[index] = iovec(iov_base: buffer.0, iov_len: buffer.1)
        }
        return try body(UnsafePointer(vectors.baseAddress!), CInt(count))
    }
}
