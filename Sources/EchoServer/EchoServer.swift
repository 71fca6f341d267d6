import InterruptIO
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// An example thread-per-connection line echo server on plain blocking
/// sockets: idle read deadlines, write deadlines, and a graceful shutdown:
/// closing the listener ends the acceptor (Go's `Listener.Close`), and one
/// CancellationGroup interrupts every connection thread.
public final class EchoServer: @unchecked Sendable {
    public let port: UInt16
    public let idleTimeout: Duration
    public let writeTimeout: Duration
    private let listener: DeadlineDescriptor
    private let group = CancellationGroup()
    /// Connection threads still running. They are detached: a finished
    /// one leaves nothing behind (a joinable thread keeps its stack mapped
    /// until joined: 2,000 connections took a server to 4,100 mappings).
    private let liveConnections = Atomic<Int>(0)
    private let stats = PThreadMutex<(served: Int, idleClosed: Int)>((0, 0))
    /// 0 before run(), 1 while it accepts, 2 once it has returned.
    private let acceptor = Atomic<Int>(0)

    /// Listens on 127.0.0.1:`port` (0 picks a free port).
    public init(port: UInt16 = 0, idleTimeout: Duration = .seconds(30), writeTimeout: Duration = .seconds(5)) throws(Errno) {
        let fd = socket(AF_INET, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw Errno(rawValue: errno) }
        var one: CInt = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> CInt in
                if bind(fd, p, len) != 0 || listen(fd, 128) != 0 { return errno }
                getsockname(fd, p, &len)
                return 0
            }
        }
        if bound != 0 { close(fd); throw Errno(rawValue: bound) }
        listener = try DeadlineDescriptor(FileDescriptor(rawValue: fd))
        self.port = UInt16(bigEndian: addr.sin_port)
        self.idleTimeout = idleTimeout
        self.writeTimeout = writeTimeout
    }

    /// Connections served to the end and connections closed for idleness.
    public var counts: (served: Int, idleClosed: Int) { stats.withLock { $0 } }

    /// Accepts connections until ``shutdown()``; each gets its own thread.
    public func run() {
        acceptor.store(1, ordering: .sequentiallyConsistent)
        defer { acceptor.store(2, ordering: .sequentiallyConsistent) }
        while true {
            let connection: FileDescriptor
            do throws(Errno) {
                connection = try listener.accept()
            } catch {
                if error == .badFileDescriptor { return } // closed by shutdown()
                // Out of descriptors or memory: the queued connection stays
                // queued; wait a little instead of spinning on it.
                if [.tooManyOpenFiles, .tooManyOpenFilesInSystem, .noBufferSpace, .noMemory].contains(error) {
                    usleep(10_000)
                }
                continue
            }
            startConnectionThread(for: connection)
        }
    }

    /// Interrupts the acceptor and every connection thread, waits for all of
    /// them and closes every descriptor the server opened.
    public func shutdown() {
        // Ends the accept in flight (and any later one) and closes the
        // listening socket once the acceptor has left it.
        try? listener.close()
        // The acceptor may be starting one last thread: wait until it is out.
        while acceptor.load(ordering: .sequentiallyConsistent) == 1 { usleep(50) }
        group.cancel()
        while liveConnections.load(ordering: .acquiring) > 0 { usleep(200) }
    }

    private func serve(_ fd: FileDescriptor) {
        guard let connection = try? DeadlineDescriptor(fd) else { try? fd.close(); return }
        defer { try? connection.close() }
        group.withMembership {
            var line: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                connection.setReadDeadline(.after(idleTimeout))
                let outcome = buffer.withUnsafeMutableBytes { p -> Result<Int, Errno> in
                    do throws(Errno) { return .success(try connection.read(into: p)) } catch { return .failure(error) }
                }
                guard case .success(let n) = outcome else {
                    if case .failure(.timedOut) = outcome { stats.withLock { $0.idleClosed += 1 } }
                    return
                }
                if n == 0 { // end of stream: a last line without its newline is echoed too
                    if !line.isEmpty {
                        connection.setWriteDeadline(.after(writeTimeout))
                        _ = line.withUnsafeBytes { p in try? connection.writeAll(p) }
                    }
                    stats.withLock { $0.served += 1 }
                    return
                }
                for byte in buffer[..<n] {
                    line.append(byte)
                    if byte == UInt8(ascii: "\n") {
                        connection.setWriteDeadline(.after(writeTimeout))
                        let written = line.withUnsafeBytes { p -> Bool in
                            do throws(IncompleteTransfer) { try connection.writeAll(p); return true } catch { return false }
                        }
                        if !written { return }
                        line.removeAll(keepingCapacity: true)
                    }
                }
            }
        }
    }

    /// Counted before it starts, so shutdown() cannot miss it. A thread
    /// the system refuses (a thread limit) costs that connection, not the
    /// server: it is closed, and accepting goes on.
    private func startConnectionThread(for connection: FileDescriptor) {
        liveConnections.add(1, ordering: .relaxed)
        let started = tryStartThread(named: "echo-conn", detached: true) { [self] in
            serve(connection)
            liveConnections.subtract(1, ordering: .releasing)
        }
        if case .failure = started {
            try? connection.close()
            liveConnections.subtract(1, ordering: .releasing)
        }
    }
}
