import CInterruptIO
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Every other blocking call, by family: locks, zero-copy transfers,
// terminals, sleeping, signals, and the escape hatch. Each
// sync form is one line over its C wrapper through `interruptible`; each
// async form is the sync form run on ``BlockingPool`` (`onPool`). Which of
// them the kernel can interrupt, and when: RELIABILITY.md, "What the kernel
// lets us interrupt". recvmmsg, sendmmsg, epoll, select and futex waits are
// C only (`iio_*`): Swift's Glibc module exports neither `mmsghdr` nor
// `epoll_event`; from Swift, reach them through ``InterruptIO/systemCall(_:_:deadline:)``.

// <fcntl.h> defines these under _GNU_SOURCE only, which Swift's Glibc
// module is not built with; the values are Linux's on every architecture.
private let F_OFD_SETLK: CInt = 37
private let F_OFD_SETLKW: CInt = 38

/// How a file lock is shared.
public enum FileLockKind: Sendable, Hashable {
    /// Many holders at once, none exclusive (`LOCK_SH`, `F_RDLCK`).
    case shared
    /// One holder (`LOCK_EX`, `F_WRLCK`).
    case exclusive
}

extension FileDescriptor {
    // MARK: Locks

    /// Takes a whole-file lock, waiting while another open file description
    /// holds a conflicting one. Interrupted, it has taken nothing.
    ///
    /// The corresponding C function is `flock` (through `iio_flock`).
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public func lock(_ kind: FileLockKind = .exclusive, deadline: Deadline) throws(Errno) {
        _ = try interruptible(deadline) { Int(iio_flock(rawValue, kind == .shared ? LOCK_SH : LOCK_EX)) }
    }

    /// Releases a lock taken with `lock(_:deadline:)` (never blocks).
    ///
    /// The corresponding C function is `flock` with `LOCK_UN`.
    public func unlock() throws(Errno) {
        _ = try interruptible(.never) { Int(iio_flock(rawValue, LOCK_UN)) }
    }

    /// Takes a byte-range lock owned by this open file description (an
    /// open-file-description lock: not released by closing another
    /// descriptor, unlike a classic POSIX lock), waiting while a conflicting
    /// one is held. `length` 0 reaches to the end of the file, however it
    /// grows. Interrupted, it has taken nothing.
    ///
    /// The corresponding C function is `fcntl` with `F_OFD_SETLKW`.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public func lockRange(
        _ kind: FileLockKind = .exclusive, start: Int64, length: Int64, deadline: Deadline
    ) throws(Errno) {
        var range = flock(l_type: Int16(kind == .shared ? F_RDLCK : F_WRLCK), l_whence: Int16(SEEK_SET),
                          l_start: off_t(start), l_len: off_t(length), l_pid: 0)
        _ = try interruptible(deadline) { Int(iio_fcntl_lock(rawValue, F_OFD_SETLKW, &range)) }
    }

    /// Releases a range locked with `lockRange(_:start:length:deadline:)`
    /// (never blocks). The corresponding C function is `fcntl` with
    /// `F_OFD_SETLK` and `F_UNLCK`.
    public func unlockRange(start: Int64, length: Int64) throws(Errno) {
        var range = flock(l_type: Int16(F_UNLCK), l_whence: Int16(SEEK_SET),
                          l_start: off_t(start), l_len: off_t(length), l_pid: 0)
        _ = try interruptible(.never) { Int(iio_fcntl_lock(rawValue, F_OFD_SETLK, &range)) }
    }

    // MARK: Zero-copy transfers

    /// Moves up to `count` bytes to `destination` without copying them
    /// through user space; one of the two must be a pipe. Returns the count
    /// moved (0 at end of input); a partial transfer is a result.
    ///
    /// The corresponding C function is `splice` (no offsets: both
    /// descriptors' positions are used).
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public func splice(to destination: FileDescriptor, count: Int, flags: UInt32 = 0, deadline: Deadline) throws(Errno) -> Int {
        try interruptible(deadline) { iio_splice(rawValue, nil, destination.rawValue, nil, count, flags) }
    }

    /// Copies up to `count` bytes from this pipe to the pipe `destination`
    /// without consuming them. The corresponding C function is `tee`.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public func tee(to destination: FileDescriptor, count: Int, flags: UInt32 = 0, deadline: Deadline) throws(Errno) -> Int {
        try interruptible(deadline) { iio_tee(rawValue, destination.rawValue, count, flags) }
    }

    /// Sends up to `count` bytes of this file, from `offset`, to
    /// `destination` (a socket or a pipe); this descriptor's own position
    /// does not move. Returns the count sent: resume at `offset + count`.
    ///
    /// The corresponding C function is `sendfile`.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public func sendFile(to destination: FileDescriptor, fromOffset offset: Int64, count: Int, deadline: Deadline) throws(Errno) -> Int {
        var position = offset
        return try interruptible(deadline) { iio_sendfile(destination.rawValue, rawValue, &position, count) }
    }

    /// Copies up to `count` bytes between two files in the kernel, at and
    /// advancing both descriptors' positions; returns the count copied.
    ///
    /// The corresponding C function is `copy_file_range`.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public func copyFileRange(to destination: FileDescriptor, count: Int, deadline: Deadline) throws(Errno) -> Int {
        try interruptible(deadline) { iio_copy_file_range(rawValue, nil, destination.rawValue, nil, count, 0) }
    }

    // MARK: Terminals

    /// Waits until everything written to this terminal has been sent.
    ///
    /// The corresponding C function is `tcdrain`.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public func drain(deadline: Deadline) throws(Errno) {
        _ = try interruptible(deadline) { Int(iio_tcdrain(rawValue)) }
    }
}

extension InterruptIO {
    /// Sleeps until `end`, interruptibly: a cancel of the thread throws
    /// `Errno.canceled`, and a thread deadline earlier than `end` throws
    /// `Errno.timedOut` at that deadline. Reaching `end` returns normally.
    ///
    /// The corresponding C function is `clock_nanosleep` on
    /// `CLOCK_MONOTONIC` with `TIMER_ABSTIME` (through `iio_sleep_until`).
    @available(*, noasync, message: "blocks the calling thread: use Task.sleep, or the async form on the pool")
    public static func sleep(until end: Deadline) throws(Errno) {
        _ = try interruptible(.never) { Int(iio_sleep_until(end.uptimeNanoseconds)) }
    }

    /// Waits for one of the signals in `set` (which the calling thread must
    /// block, as for `sigwaitinfo`); returns its number, or nil when
    /// `timeout` passed first. A set holding the library's own signal
    /// throws `Errno.invalidArgument`.
    ///
    /// The corresponding C function is `sigtimedwait`.
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public static func waitForSignal(
        in set: sigset_t, timeout: Duration? = nil, deadline: Deadline
    ) throws(Errno) -> CInt? {
        var set = set
        // Deadline's own conversion (rounded up: a wait never ends early).
        let nanoseconds = timeout.map { max(0, Deadline.saturatingNanoseconds($0, rounding: .up)) } ?? 0
        var limit = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        let result = withUnsafeMutablePointer(to: &limit) { limit in
            withCallDeadline(deadline) { Int(iio_sigtimedwait(&set, nil, timeout == nil ? nil : limit)) }
        }
        if result == -Int(EAGAIN) { return nil }
        if result < 0 { throw Errno(rawValue: CInt(truncatingIfNeeded: -result)) }
        return CInt(result)
    }

    /// Any system call, interruptible and under deadlines like the wrapped
    /// ones: for a call the library does not wrap. A foreign `EINTR` is
    /// retried with the same arguments, so a call with a relative timeout
    /// of its own or one that cannot be restarted (`connect`) needs a
    /// wrapper of its own. Returns the call's result.
    ///
    /// The corresponding C function is `syscall` (through `iio_syscall`).
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public static func systemCall(
        _ number: CLong, _ arguments: CLong..., deadline: Deadline
    ) throws(Errno) -> Int {
        precondition(arguments.count <= 6, "a system call takes at most six arguments")
        let a = arguments + Array(repeating: 0, count: 6 - arguments.count)
        return try interruptible(deadline) { iio_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]) }
    }
}

// MARK: - The async forms: each sync form above, run on the pool.

extension FileDescriptor {
    /// `lock(_:deadline:)` on ``BlockingPool``.
    public func lock(_ kind: FileLockKind = .exclusive, deadline: Deadline) async throws {
        try await onPool(deadline) { () throws(Errno) in try lock(kind, deadline: deadline) }
    }

    /// `lockRange(_:start:length:deadline:)` on ``BlockingPool``.
    public func lockRange(_ kind: FileLockKind = .exclusive, start: Int64, length: Int64, deadline: Deadline) async throws {
        try await onPool(deadline) { () throws(Errno) in try lockRange(kind, start: start, length: length, deadline: deadline) }
    }

    /// `splice(to:count:flags:deadline:)` on ``BlockingPool``.
    public func splice(to destination: FileDescriptor, count: Int, flags: UInt32 = 0, deadline: Deadline) async throws -> Int {
        try await onPool(deadline) { () throws(Errno) in try splice(to: destination, count: count, flags: flags, deadline: deadline) }
    }

    /// `tee(to:count:flags:deadline:)` on ``BlockingPool``.
    public func tee(to destination: FileDescriptor, count: Int, flags: UInt32 = 0, deadline: Deadline) async throws -> Int {
        try await onPool(deadline) { () throws(Errno) in try tee(to: destination, count: count, flags: flags, deadline: deadline) }
    }

    /// `sendFile(to:fromOffset:count:deadline:)` on ``BlockingPool``.
    public func sendFile(to destination: FileDescriptor, fromOffset offset: Int64, count: Int, deadline: Deadline) async throws -> Int {
        try await onPool(deadline) { () throws(Errno) in try sendFile(to: destination, fromOffset: offset, count: count, deadline: deadline) }
    }

    /// `copyFileRange(to:count:deadline:)` on ``BlockingPool``.
    public func copyFileRange(to destination: FileDescriptor, count: Int, deadline: Deadline) async throws -> Int {
        try await onPool(deadline) { () throws(Errno) in try copyFileRange(to: destination, count: count, deadline: deadline) }
    }

    /// `drain(deadline:)` on ``BlockingPool``.
    public func drain(deadline: Deadline) async throws {
        try await onPool(deadline) { () throws(Errno) in try drain(deadline: deadline) }
    }
}

extension InterruptIO {
    /// `sleep(until:)` on ``BlockingPool`` (for symmetry; in async
    /// code `Task.sleep` needs no thread).
    public static func sleep(until end: Deadline) async throws {
        try await onPool(.never) { () throws(Errno) in try sleep(until: end) }
    }

    /// `waitForSignal(in:timeout:deadline:)` on ``BlockingPool``:
    /// the signals must be blocked on the pool's threads too.
    public static func waitForSignal(in set: sigset_t, timeout: Duration? = nil, deadline: Deadline) async throws -> CInt? {
        try await onPool(deadline) { () throws(Errno) in try waitForSignal(in: set, timeout: timeout, deadline: deadline) }
    }
}
