// Echo server for the server benchmark (issue 15): InterruptIO, one thread
// per connection, written as a user of the library would (the idioms of
// Sources/EchoServer): each connection is a DeadlineDescriptor with
// setReadDeadline (idle, 10 s) before each read and setWriteDeadline (5 s)
// before each write; the listener is a DeadlineDescriptor whose close() ends
// the blocked accept; one CancellationGroup interrupts every connection
// thread on SIGTERM or SIGINT, and the process exits 0 once the last one has
// closed its connection.
//
//   echo-bench-interruptio [--port P] [--per-call]
//
// --port 0 (the default) picks a free port; the first line printed is
// "listening on 127.0.0.1:PORT". --per-call uses FileDescriptor's per-call
// deadlines (read(into:deadline:), writeAll(_:deadline:)) instead of a
// DeadlineDescriptor per connection.
import EchoBenchSupport
import InterruptIO
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

let idleTimeout: Duration = .seconds(10)
let writeTimeout: Duration = .seconds(5)

final class Server: Sendable {
    let listener: DeadlineDescriptor
    let port: UInt16
    let perCall: Bool
    let connections = CancellationGroup()
    /// Connection threads still running.
    let live = Atomic<Int>(0)
    /// 1 while the acceptor runs, 2 once it has returned.
    let acceptor = Atomic<Int>(1)

    init(port: UInt16, perCall: Bool) throws(Errno) {
        let fd = socket(AF_INET, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw Errno(rawValue: errno) }
        var one: CInt = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let failed = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> CInt in
                bind(fd, p, len) != 0 || listen(fd, 1024) != 0 || getsockname(fd, p, &len) != 0 ? errno : 0
            }
        }
        if failed != 0 { close(fd); throw Errno(rawValue: failed) }
        listener = try DeadlineDescriptor(FileDescriptor(rawValue: fd))
        self.port = UInt16(bigEndian: addr.sin_port)
        self.perCall = perCall
    }

    /// Accepts until the listener is closed; each connection gets a thread.
    func acceptLoop() {
        defer { acceptor.store(2, ordering: .sequentiallyConsistent) }
        while true {
            let fd: FileDescriptor
            do throws(Errno) {
                fd = try listener.accept()
            } catch {
                if error == .badFileDescriptor { return } // closed by shutdown()
                continue
            }
            var one: CInt = 1
            setsockopt(fd.rawValue, CInt(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<CInt>.size))
            live.add(1, ordering: .sequentiallyConsistent)
            if !spawn({ [self] in
                if perCall { servePerCall(fd) } else { serve(fd) }
                live.subtract(1, ordering: .sequentiallyConsistent)
            }) {
                try? fd.close()
                live.subtract(1, ordering: .sequentiallyConsistent)
            }
        }
    }

    func serve(_ fd: FileDescriptor) {
        guard let connection = try? DeadlineDescriptor(fd) else { try? fd.close(); return }
        defer { try? connection.close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { buffer.deallocate() }
        connections.withMembership {
            while true {
                connection.setReadDeadline(.after(idleTimeout))
                guard let n = try? connection.read(into: buffer), n > 0 else { return }
                connection.setWriteDeadline(.after(writeTimeout))
                do throws(IncompleteTransfer) {
                    _ = try connection.writeAll(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
                } catch { return }
            }
        }
    }

    func servePerCall(_ fd: FileDescriptor) {
        defer { try? fd.close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { buffer.deallocate() }
        connections.withMembership {
            while true {
                guard let n = try? fd.read(into: buffer, deadline: .after(idleTimeout)), n > 0 else { return }
                do throws(IncompleteTransfer) {
                    _ = try fd.writeAll(UnsafeRawBufferPointer(rebasing: buffer[..<n]), deadline: .after(writeTimeout))
                } catch { return }
            }
        }
    }

    /// Ends the accept, interrupts every connection thread and waits until
    /// each has closed its connection.
    func shutdown() {
        try? listener.close()
        while acceptor.load(ordering: .sequentiallyConsistent) == 1 { usleep(100) }
        connections.cancel() // in flight and later: Errno.canceled
        while live.load(ordering: .sequentiallyConsistent) > 0 { usleep(100) }
    }
}

/// Starts a detached pthread running `body` (default stack size).
func spawn(_ body: @escaping @Sendable () -> Void) -> Bool {
    final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let started = pthread_create(&thread, nil, { raw in
        let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
        box.body()
        return nil
    }, box)
    if started != 0 { Unmanaged<Box>.fromOpaque(box).release(); return false }
    pthread_detach(thread)
    return true
}

let (port, flags) = parseCommandLine("echo-bench-interruptio", flags: ["--per-call"])
blockStopSignals()
let server: Server
do {
    server = try Server(port: port, perCall: flags.contains("--per-call"))
} catch {
    fail("echo-bench-interruptio: cannot listen: \(error)")
}
announce(port: Int(server.port))
guard spawn({ server.acceptLoop() }) else { fail("echo-bench-interruptio: cannot start a thread") }
waitForStopSignal()
server.shutdown()
exit(0)
