import CInterruptIO
import InterruptIO
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

private struct TestThreadState<Result> {
    var handle: InterruptibleThread?
    var result: Result?
    var finishedAt: Deadline?
}

/// A dedicated pthread for a blocking call (never Swift's cooperative pool).
final class TestThread<Result: Sendable>: @unchecked Sendable {
    private let state = PThreadMutex(TestThreadState<Result>())
    private var thread = pthread_t()

    init(_ body: @escaping @Sendable () -> Result) {
        thread = startThread("test", detached: false) { [self] in
            let handle = try? InterruptibleThread.current()
            self.state.withLock { $0.handle = handle }
            let result = body()
            let now = Deadline.now
            self.state.withLock { $0.result = result; $0.finishedAt = now }
        }
        while handle == nil { sched_yield() }
    }

    var handle: InterruptibleThread? { state.withLock { $0.handle } }
    var isFinished: Bool { state.withLock { $0.result != nil } }
    var finishedAt: Deadline? { state.withLock { $0.finishedAt } }

    /// Waits up to `limit` for the thread; nil if it is still running.
    func join(within limit: Duration = .seconds(5)) -> Result? {
        let end = Deadline.after(limit)
        while !isFinished {
            if end.hasPassed { return nil }
            usleep(200)
        }
        pthread_join(thread, nil)
        return state.withLock { $0.result }
    }

    /// Sends cancels until the call is seen in flight or has finished.
    func cancelUntilDone(limit: Duration = .seconds(5)) -> Result? {
        let end = Deadline.after(limit)
        while !isFinished && !end.hasPassed {
            _ = try? handle?.cancel()
            usleep(500)
        }
        return join(within: .seconds(1))
    }
}

typealias IOResult = Swift.Result<Int, Errno>

func pipePair() throws -> (FileDescriptor, FileDescriptor) {
    let ends = try FileDescriptor.pipe()
    return (ends.readEnd, ends.writeEnd)
}

func socketPair() -> (FileDescriptor, FileDescriptor) {
    var fds: [CInt] = [0, 0]
    let r = socketpair(AF_UNIX, CInt(SOCK_STREAM.rawValue), 0, &fds)
    precondition(r == 0)
    return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
}

/// A TCP listener on 127.0.0.1 and its port.
func tcpListener(backlog: CInt = 16) -> (FileDescriptor, sockaddr_in) {
    let fd = socket(AF_INET, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            _ = bind(fd, $0, len)
            _ = getsockname(fd, $0, &len)
        }
    }
    listen(fd, backlog)
    return (FileDescriptor(rawValue: fd), addr)
}

func tcpConnect(_ addr: sockaddr_in) throws(Errno) -> FileDescriptor {
    let fd = FileDescriptor(rawValue: socket(AF_INET, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0))
    var addr = addr
    let result: Errno? = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p in
            do throws(Errno) {
                try fd.connect(to: p, length: socklen_t(MemoryLayout<sockaddr_in>.size), deadline: .after(.seconds(5)))
                return nil
            } catch { return error }
        }
    }
    if let result { throw result }
    return fd
}

/// Fills a descriptor's buffer (non-blocking writes), then makes it blocking.
@discardableResult
func fill(_ fd: FileDescriptor) -> Int {
    let flags = fcntl(fd.rawValue, F_GETFL)
    _ = fcntl(fd.rawValue, F_SETFL, flags | O_NONBLOCK)
    var total = 0
    let chunk = [UInt8](repeating: 0x46, count: 65536)
    while true {
        let n = chunk.withUnsafeBytes { Glibc.write(fd.rawValue, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        total += n
    }
    _ = fcntl(fd.rawValue, F_SETFL, flags)
    return total
}

func readResult(_ fd: FileDescriptor, count: Int = 64, deadline: Deadline) -> IOResult {
    var buffer = [UInt8](repeating: 0, count: count)
    return buffer.withUnsafeMutableBytes { b in
        do throws(Errno) { return .success(try fd.read(into: b, deadline: deadline)) } catch { return .failure(error) }
    }
}

func writeResult(_ fd: FileDescriptor, _ bytes: [UInt8], deadline: Deadline) -> IOResult {
    bytes.withUnsafeBytes { b in
        do throws(Errno) { return .success(try fd.write(b, deadline: deadline)) } catch { return .failure(error) }
    }
}
