import CInterruptIO
import InterruptIO
import Synchronization
import SystemPackage
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Go's net.Conn contract on `DeadlineDescriptor`: a deadline reaches every
/// call in flight, and close ends every caller and closes the number once,
/// after the last has left. The same cases run in C in
/// Tests/CTests/test_interruptio.c (test_fd_*), under every sanitizer.
@Suite(.serialized) struct DescriptorContract {
    /// One blocking call on `descriptor` per thread; each returns its
    /// outcome (a count, or the error).
    enum Call: Sendable { case read, receive, write, accept }

    static func start(_ calls: [Call], on descriptor: DeadlineDescriptor) -> [TestThread<IOResult>] {
        let threads = calls.map { call in
            TestThread { () -> IOResult in
                var buffer = [UInt8](repeating: 0x77, count: 1024)
                do {
                    switch call {
                    case .read: return .success(try buffer.withUnsafeMutableBytes { try descriptor.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[..<1])) })
                    case .receive: return .success(try buffer.withUnsafeMutableBytes { try descriptor.receive(into: UnsafeMutableRawBufferPointer(rebasing: $0[..<1])) })
                    case .write: return .success(try buffer.withUnsafeBytes { try descriptor.write($0) })
                    case .accept:
                        let connection = try descriptor.accept()
                        try? connection.close()
                        return .success(0)
                    }
                } catch { return .failure(error as? Errno ?? .ioError) }
            }
        }
        usleep(30_000) // let every call block in the kernel
        return threads
    }

    /// Joins every thread within `limit` of now; nil for one still blocked.
    static func outcomes(_ threads: [TestThread<IOResult>], within limit: Duration = .seconds(2)) -> [IOResult?] {
        let end = Deadline.after(limit)
        return threads.map { $0.join(within: max(.zero, end - .now)) }
    }

    static func fillSendBuffer(_ fd: FileDescriptor) {
        var small: CInt = 4096
        setsockopt(fd.rawValue, SOL_SOCKET, SO_SNDBUF, &small, socklen_t(MemoryLayout<CInt>.size))
        _ = fcntl(fd.rawValue, F_SETFL, O_NONBLOCK)
        let fill = [UInt8](repeating: 0x78, count: 1024)
        while fill.withUnsafeBytes({ send(fd.rawValue, $0.baseAddress, $0.count, 0) }) > 0 {}
        _ = fcntl(fd.rawValue, F_SETFL, 0)
    }

    static func isOpen(_ number: CInt) -> Bool { fcntl(number, F_GETFD) >= 0 }

    @Test func pastDeadlineReturnsEveryAcceptor() throws {
        let (raw, addr) = tcpListener()
        let listener = try DeadlineDescriptor(raw)
        let acceptors = Self.start([.accept, .accept, .accept, .accept], on: listener)
        listener.setDeadline(.now - .seconds(1))
        #expect(Self.outcomes(acceptors) == Array(repeating: .failure(.timedOut), count: 4))
        // Cleared, the listener accepts again.
        listener.setDeadline(.never)
        let client = try tcpConnect(addr)
        defer { try? client.close() }
        let accepted = try listener.accept()
        try accepted.close()
        try listener.close()
    }

    @Test(arguments: [false, true])
    func pastDeadlineReturnsEveryReader(socket: Bool) throws {
        let (r, w) = socket ? socketPair() : try pipePair()
        defer { try? w.close() }
        let reading = try DeadlineDescriptor(r)
        let readers = Self.start(Array(repeating: socket ? .receive : .read, count: 3), on: reading)
        // The write side's deadline leaves the readers alone.
        reading.setWriteDeadline(.now - .seconds(1))
        usleep(20_000)
        #expect(readers.allSatisfy { !$0.isFinished })
        reading.setReadDeadline(.now)
        #expect(Self.outcomes(readers) == Array(repeating: .failure(.timedOut), count: 3))
        // Nothing lost: cleared, a byte written is read.
        reading.setReadDeadline(.never)
        #expect(writeResult(w, [0x41], deadline: .never) == .success(1))
        var byte: UInt8 = 0
        #expect(try withUnsafeMutableBytes(of: &byte) { try reading.read(into: $0) } == 1)
        #expect(byte == 0x41)
    }

    /// With the timer thread running, a deadline still ahead, moved earlier
    /// while three readers wait, fires for all three at its instant.
    @Test func deadlineMovedEarlierFiresForEveryReader() throws {
        let (r, w) = try pipePair()
        defer { try? w.close() }
        let reading = try DeadlineDescriptor(r)
        reading.setReadDeadline(.after(.seconds(60)))
        let readers = Self.start([.read, .read, .read], on: reading)
        let deadline = Deadline.after(.milliseconds(100))
        reading.setReadDeadline(deadline)
        #expect(Self.outcomes(readers) == Array(repeating: .failure(.timedOut), count: 3))
        for reader in readers {
            let at = try #require(reader.finishedAt)
            #expect(at >= deadline)
        }
    }

    /// Moved later, every reader goes on and gets its byte.
    @Test func deadlineMovedLaterLetsEveryReaderGoOn() throws {
        let (r, w) = try pipePair()
        defer { try? w.close() }
        let reading = try DeadlineDescriptor(r)
        reading.setReadDeadline(.after(.milliseconds(150)))
        let readers = Self.start([.read, .read, .read], on: reading)
        reading.setReadDeadline(.after(.seconds(60)))
        usleep(300_000) // past the first deadline
        #expect(readers.allSatisfy { !$0.isFinished })
        #expect(writeResult(w, [1, 2, 3], deadline: .never) == .success(3))
        #expect(Self.outcomes(readers) == Array(repeating: .success(1), count: 3))
    }

    @Test func closeReturnsEveryCallerAndClosesTheNumberOnce() throws {
        let (a, b) = socketPair()
        defer { try? b.close() }
        Self.fillSendBuffer(a)
        let descriptor = try DeadlineDescriptor(a)
        let callers = Self.start([.receive, .receive, .receive, .write], on: descriptor)
        #expect(callers.allSatisfy { !$0.isFinished })
        try descriptor.close()
        #expect(descriptor.isClosed)
        #expect(!Self.isOpen(a.rawValue)) // closed by the time close returned
        let results = Self.outcomes(callers)
        #expect(Array(results[0..<3]) == Array(repeating: .failure(.badFileDescriptor), count: 3))
        // The writer: closed, or the count it had already moved.
        switch results[3] {
        case .failure(.badFileDescriptor): break
        case .success(let n): #expect(n > 0 && n < 1024)
        default: Issue.record("writer: \(String(describing: results[3]))")
        }
        // Later calls fail the same way; a second close says so.
        #expect(throws: Errno.badFileDescriptor) { try descriptor.close() }
        var byte: UInt8 = 0
        #expect(throws: Errno.badFileDescriptor) { _ = try withUnsafeMutableBytes(of: &byte) { try descriptor.read(into: $0) } }
        #expect(throws: Errno.badFileDescriptor) { try descriptor.shutdown(.write) }
    }

    /// Many rounds: callers loop on a wrapped pipe until they see the close;
    /// the test closes both ends and at once opens a file with known contents
    /// twice, taking the freed numbers. No old caller may read or write it,
    /// and the objects' end (deinit) must not close it: closed exactly once.
    @Test func closeNeverTouchesAReusedNumber() throws {
        let path = "/tmp/interruptio-swift-reuse-\(getpid())"
        let content = Array("CONTENTS THAT MUST NOT CHANGE".utf8)
        let file = try FileDescriptor.open(path, .readWrite, options: [.create, .truncate], permissions: .ownerReadWrite)
        defer { try? file.close(); unlink(path) }
        _ = try content.withUnsafeBytes { try file.write($0) }
        signal(SIGPIPE, SIG_IGN)
        defer { signal(SIGPIPE, SIG_DFL) }
        var reused = 0
        for round in 0..<100 {
            let (r, w) = try pipePair()
            var reader: DeadlineDescriptor? = try DeadlineDescriptor(r)
            var writer: DeadlineDescriptor? = try DeadlineDescriptor(w)
            let loops = [reader!, reader!, writer!].enumerated().map { index, descriptor in
                TestThread { () -> (foreign: Int, last: Errno?) in
                    var buffer = [UInt8](repeating: 0x70, count: 256)
                    var foreign = 0
                    while true {
                        do {
                            if index == 2 {
                                _ = try buffer.withUnsafeBytes { try descriptor.write($0) }
                            } else {
                                let n = try buffer.withUnsafeMutableBytes { try descriptor.read(into: $0) }
                                if n == 0 { return (foreign, nil) }
                                foreign += buffer[..<n].filter { $0 != 0x70 }.count
                            }
                        } catch {
                            let error = error as? Errno ?? .ioError
                            if error == .brokenPipe { sched_yield(); continue }
                            return (foreign, error)
                        }
                    }
                }
            }
            usleep(UInt32.random(in: 0..<2000))
            let readerFirst = round % 2 == 0
            try (readerFirst ? reader! : writer!).close()
            let f1 = open(path, O_RDWR | O_CLOEXEC)
            try (readerFirst ? writer! : reader!).close()
            let f2 = open(path, O_RDWR | O_CLOEXEC)
            reused += [f1, f2].filter { $0 == r.rawValue || $0 == w.rawValue }.count
            for loop in loops {
                let outcome = try #require(loop.join(within: .seconds(5)))
                #expect(outcome.foreign == 0)
                #expect(outcome.last == nil || outcome.last == .badFileDescriptor)
            }
            reader = nil
            writer = nil // deinit: already closed, must not close again
            #expect(Self.isOpen(f1) && Self.isOpen(f2))
            #expect(lseek(f1, 0, SEEK_CUR) == 0 && lseek(f2, 0, SEEK_CUR) == 0)
            close(f1)
            close(f2)
        }
        var back = [UInt8](repeating: 0, count: content.count + 8)
        let n = try back.withUnsafeMutableBytes { try file.read(fromAbsoluteOffset: 0, into: $0) }
        #expect(Array(back[..<n]) == content)
        #expect(reused > 0) // the race was really staged
    }

    /// deinit closes a descriptor nobody closed, and only that.
    @Test func deinitClosesTheNumber() throws {
        let (r, w) = try pipePair()
        defer { try? w.close() }
        do {
            let descriptor = try DeadlineDescriptor(r)
            #expect(descriptor.fileDescriptor == r)
        }
        #expect(!Self.isOpen(r.rawValue))
        #expect(Self.isOpen(w.rawValue))
    }

    @Test func badNumbersAreRefused() throws {
        #expect(throws: Errno.badFileDescriptor) { _ = try DeadlineDescriptor(FileDescriptor(rawValue: -1)) }
        let (r, w) = try pipePair()
        try r.close()
        try w.close()
        #expect(throws: Errno.badFileDescriptor) { _ = try DeadlineDescriptor(r) }
    }

    @Test func shutdownTellsThePeer() throws {
        let (a, b) = socketPair()
        defer { try? b.close() }
        let descriptor = try DeadlineDescriptor(a)
        #expect(try Array("hi".utf8).withUnsafeBytes { try descriptor.send($0) } == 2)
        try descriptor.shutdown(.write)
        #expect(readResult(b, deadline: .after(.seconds(1))) == .success(2))
        #expect(readResult(b, deadline: .after(.seconds(1))) == .success(0))
    }

    /// The async forms meet the same close: an awaiting read ends with
    /// badFileDescriptor when another task closes the descriptor.
    @Test func closeEndsAnAsyncRead() async throws {
        let (r, w) = try pipePair()
        defer { try? w.close() }
        let descriptor = try DeadlineDescriptor(r)
        let reading = Task { () -> Errno? in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 1)
            defer { buffer.deallocate() }
            do {
                _ = try await descriptor.read(into: buffer)
                return nil
            } catch { return error as? Errno }
        }
        try await Task.sleep(for: .milliseconds(50))
        try descriptor.close()
        #expect(await reading.value == Errno.badFileDescriptor)
    }
}
