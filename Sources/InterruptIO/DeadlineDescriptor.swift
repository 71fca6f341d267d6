import CInterruptIO
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A descriptor with Go's per-direction deadlines (`SetReadDeadline`,
/// `SetWriteDeadline`, `SetDeadline`).
///
/// The descriptor's deadline combines with the calling thread's
/// (``InterruptibleThread/setDeadline(_:)``): the tighter one bounds each
/// call, and neither resets the other.
///
/// A deadline is absolute and applies to the call in flight and to every
/// later call until it is changed, from any thread at any time: moving it
/// into the past makes a blocked call fail at once with `Errno.timedOut`,
/// moving it later lets a blocked call go on, ``Deadline/never`` removes it.
/// One reading and one writing thread may work at the same time; the
/// descriptor is not closed by this type.
///
/// How a change reaches a blocked call: each direction's deadline is a word
/// the calling thread reads at the start of each call (`iio_deadline_source`).
/// A setter stores the word, then looks for a thread in a call in that
/// direction and tells it (`iio_deadline_changed`); the call re-reads the
/// word and goes on or times out. The caller publishes itself before the
/// call reads the word and the setter stores the word before it looks, both
/// sequentially consistent, so a change is never missed.
public final class DeadlineDescriptor: Sendable {
    /// The descriptor the calls use.
    public let fileDescriptor: FileDescriptor

    private enum Direction: Int { case read = 0, write = 1 }

    /// [read, write] deadline words, read by the C layer at call starts.
    private nonisolated(unsafe) let words: UnsafeMutablePointer<UInt64>
    /// The thread in a call, per direction (a packed handle, 0 for none).
    private let readingThread = Atomic<UInt64>(0)
    private let writingThread = Atomic<UInt64>(0)
    /// Setters are serialised so the last one to store also tells last. It
    /// guards no Swift value (the words and slots are atomics), so TSan has
    /// nothing to misreport here; a PThreadMutex<Void> would give TSan a
    /// zero-sized "access" that aliases the next field.
    private let setterLock = Mutex<Void>(())

    public init(_ fileDescriptor: FileDescriptor) {
        self.fileDescriptor = fileDescriptor
        words = .allocate(capacity: 2)
        words.initialize(repeating: UInt64.max, count: 2)
    }

    deinit { words.deallocate() }

    /// The deadline for reads, receives and accepts.
    public var readDeadline: Deadline {
        Deadline(uptimeNanoseconds: iio_deadline_word_load(words + Direction.read.rawValue))
    }

    /// The deadline for writes and sends.
    public var writeDeadline: Deadline {
        Deadline(uptimeNanoseconds: iio_deadline_word_load(words + Direction.write.rawValue))
    }

    /// Sets the read deadline, for the call in flight and those to come.
    public func setReadDeadline(_ deadline: Deadline) { set(deadline, .read) }

    /// Sets the write deadline, for the call in flight and those to come.
    public func setWriteDeadline(_ deadline: Deadline) { set(deadline, .write) }

    /// Sets both deadlines.
    public func setDeadline(_ deadline: Deadline) {
        set(deadline, .read)
        set(deadline, .write)
    }

    private func set(_ deadline: Deadline, _ direction: Direction) {
        if deadline != .never { TimerDriver.ensureRunning() }
        setterLock.withLock { _ in
            iio_deadline_word_store(words + direction.rawValue, deadline.uptimeNanoseconds)
            let caller = direction == .read
                ? readingThread.load(ordering: .sequentiallyConsistent)
                : writingThread.load(ordering: .sequentiallyConsistent)
            // A stale handle (the call just ended) costs that thread at most
            // one retried system call.
            if caller != 0 { _ = iio_deadline_changed(iio_thread_unpack(caller)) }
        }
    }

    private func withDirection(_ direction: Direction, _ call: () -> Int) throws(Errno) -> Int {
        var me = iio_thread_t()
        let registered = iio_self(&me)
        if registered < 0 { throw Errno(rawValue: -registered) }
        let packed = iio_thread_pack(me)
        if direction == .read {
            readingThread.store(packed, ordering: .sequentiallyConsistent)
        } else {
            writingThread.store(packed, ordering: .sequentiallyConsistent)
        }
        iio_deadline_source(words + direction.rawValue)
        let result = call()
        iio_deadline_source(nil)
        if direction == .read {
            readingThread.store(0, ordering: .sequentiallyConsistent)
        } else {
            writingThread.store(0, ordering: .sequentiallyConsistent)
        }
        if result < 0 { throw Errno(rawValue: CInt(truncatingIfNeeded: -result)) }
        return result
    }

    /// Reads under the read deadline. The corresponding C function is `read`.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try withDirection(.read) { iio_read(fileDescriptor.rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Writes under the write deadline. The corresponding C function is `write`.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public func write(_ buffer: UnsafeRawBufferPointer) throws(Errno) -> Int {
        try withDirection(.write) { iio_write(fileDescriptor.rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Receives under the read deadline. The corresponding C function is `recv`.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public func receive(into buffer: UnsafeMutableRawBufferPointer, flags: CInt = 0) throws(Errno) -> Int {
        try withDirection(.read) { iio_recv(fileDescriptor.rawValue, buffer.baseAddress, buffer.count, flags) }
    }

    /// Sends under the write deadline. The corresponding C function is `send`.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public func send(_ buffer: UnsafeRawBufferPointer, flags: CInt = 0) throws(Errno) -> Int {
        try withDirection(.write) { iio_send(fileDescriptor.rawValue, buffer.baseAddress, buffer.count, flags) }
    }

    /// Accepts under the read deadline (Go: a listener's `SetDeadline`).
    /// The corresponding C function is `accept4`.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public func accept(flags: CInt = CInt(SOCK_CLOEXEC.rawValue)) throws(Errno) -> FileDescriptor {
        let fd = try withDirection(.read) { Int(iio_accept4(fileDescriptor.rawValue, nil, nil, flags)) }
        return FileDescriptor(rawValue: CInt(fd))
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
