import CInterruptIO
import InterruptIO
import Synchronization
import SystemPackage
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Outside attack on `DeadlineDescriptor` (Go's net.Conn contract) with the
/// timer thread running: future deadlines moved earlier / later from many
/// threads, deadlines mixed with thread deadlines, the async forms with
/// close, deadlines and Task cancellation, and deinit's single close.
/// Run: swift test --no-parallel --filter AttackFd
@Suite(.serialized) struct AttackFdContract {
    enum Call: Sendable { case read, receive, readUpTo, write, accept }

    /// Starts one blocking call per thread; returns once all have started
    /// and had 40 ms to block.
    static func start(_ calls: [Call], on d: DeadlineDescriptor, before: (@Sendable () -> Void)? = nil) -> [TestThread<IOResult>] {
        let threads = calls.map { call in
            TestThread { () -> IOResult in
                before?()
                var buffer = [UInt8](repeating: 0, count: 512)
                do {
                    switch call {
                    case .read: return .success(try buffer.withUnsafeMutableBytes { try d.read(into: $0) })
                    case .receive: return .success(try buffer.withUnsafeMutableBytes { try d.receive(into: $0) })
                    case .readUpTo: return .success(try d.read(upToCount: 16).count)
                    case .write: return .success(try buffer.withUnsafeBytes { try d.write($0) })
                    case .accept:
                        let c = try d.accept()
                        try? c.close()
                        return .success(0)
                    }
                } catch { return .failure(error as? Errno ?? .ioError) }
            }
        }
        usleep(40_000)
        return threads
    }

    static func outcomes(_ threads: [TestThread<IOResult>], within limit: Duration = .seconds(2)) -> [IOResult?] {
        let end = Deadline.after(limit)
        return threads.map { $0.join(within: max(.zero, end - .now)) }
    }

    static func isOpen(_ n: CInt) -> Bool { fcntl(n, F_GETFD) >= 0 }

    static func fillSendBuffer(_ fd: FileDescriptor) {
        var small: CInt = 4096
        setsockopt(fd.rawValue, SOL_SOCKET, SO_SNDBUF, &small, socklen_t(MemoryLayout<CInt>.size))
        _ = fcntl(fd.rawValue, F_SETFL, O_NONBLOCK)
        let fill = [UInt8](repeating: 0x78, count: 1024)
        while fill.withUnsafeBytes({ send(fd.rawValue, $0.baseAddress, $0.count, CInt(MSG_NOSIGNAL)) }) > 0 {}
        _ = fcntl(fd.rawValue, F_SETFL, 0)
    }

    /// A future read deadline moved earlier reaches 16 callers of three
    /// kinds on a socket at its instant (never before), and leaves 4 writers
    /// on the same socket alone.
    @Test func earlierFutureDeadlineReachesEveryCallerNeverEarly() throws {
        let (a, b) = socketPair()
        defer { try? b.close() }
        Self.fillSendBuffer(a)
        let d = try DeadlineDescriptor(a)
        d.setDeadline(.after(.seconds(60)))
        let readers = Self.start(Array([Call.read, .receive, .readUpTo, .read].repeated(4)), on: d)
        let writers = Self.start([.write, .write, .write, .write], on: d)
        #expect(readers.allSatisfy { !$0.isFinished } && writers.allSatisfy { !$0.isFinished })
        let deadline = Deadline.after(.milliseconds(150))
        d.setReadDeadline(deadline)
        let results = Self.outcomes(readers)
        #expect(results.allSatisfy { $0 == .failure(.timedOut) }, "\(results)")
        for r in readers {
            if let at = r.finishedAt { #expect(at >= deadline, "ended \(deadline - at) early") }
        }
        #expect(writers.allSatisfy { !$0.isFinished }, "the read deadline ended a writer")
        try d.close()
        let w = Self.outcomes(writers)
        #expect(w.allSatisfy { $0 == .failure(.badFileDescriptor) }, "\(w)")
    }

    /// Ever earlier, set from 6 threads at once: 60 s ... down to 300 ms.
    /// Every reader ends at the last (earliest) one.
    @Test func everEarlierFromManyThreads() throws {
        let (r, w) = try pipePair()
        defer { try? w.close() }
        let d = try DeadlineDescriptor(r)
        let readers = Self.start(Array(repeating: .read, count: 10), on: d)
        let base = Deadline.now
        let final = base + .milliseconds(300)
        let setters = (0..<6).map { i in
            TestThread { () -> Int in
                for k in stride(from: 60_000, through: 300, by: -97 - i) {
                    d.setReadDeadline(base + .milliseconds(k))
                }
                d.setReadDeadline(final)
                return 0
            }
        }
        for s in setters { _ = s.join() }
        #expect(d.readDeadline == final)
        let results = Self.outcomes(readers, within: .seconds(3))
        #expect(results.allSatisfy { $0 == .failure(.timedOut) }, "\(results)")
        for t in readers {
            if let at = t.finishedAt { #expect(at >= final, "ended \(final - at) before the deadline") }
        }
    }

    /// Ever later: each deadline is replaced by a later one before it
    /// fires (200 ms ahead, replaced every 10 ms). No reader may end while
    /// the deadline current at that instant is still ahead; then .now ends
    /// them all.
    @Test(arguments: [200, 40])
    func everLaterNeverFires(aheadMs: Int) throws {
        let (r, w) = try pipePair()
        defer { try? w.close() }
        let d = try DeadlineDescriptor(r)
        d.setReadDeadline(.after(.seconds(60)))
        var history: [(at: Deadline, value: Deadline)] = [(Deadline.now, d.readDeadline)]
        let readers = Self.start([.read, .read, .readUpTo, .read, .read, .readUpTo], on: d)
        let end = Deadline.after(.milliseconds(1000))
        while !end.hasPassed {
            let v = Deadline.after(.milliseconds(aheadMs))
            d.setReadDeadline(v)
            history.append((Deadline.now, v))
            usleep(10_000)
        }
        d.setReadDeadline(.after(.seconds(60)))
        history.append((Deadline.now, d.readDeadline))
        usleep(250_000)
        var early: Set<Int> = []
        for (i, t) in readers.enumerated() where t.isFinished {
            early.insert(i)
            let result = t.join(within: .seconds(1))
            let at = t.finishedAt!
            // The deadline in force when it ended: the last set before `at`.
            let inForce = history.last(where: { $0.at <= at })?.value
            let gap = zip(history, history.dropFirst()).map { $1.at - $0.at }.max() ?? .zero
            let ahead = inForce.map { $0 - at } ?? .zero
            // Legitimate only if the setter stalled past the deadline in force.
            if ahead <= .zero && gap >= .milliseconds(aheadMs - 10) { continue }
            Issue.record("reader \(i) ended with \(String(describing: result)) at \(at), deadline in force \(String(describing: inForce)) (\(inForce.map { $0 - at } ?? .zero) ahead); largest gap between sets \(gap)")
        }
        d.setReadDeadline(.now)
        let rest = readers.enumerated().filter { !early.contains($0.offset) }.map { $0.element }
        let results = Self.outcomes(rest)
        #expect(results.allSatisfy { $0 == .failure(.timedOut) }, "\(results)")
    }

    /// Setters race random future values, all at or after D, and each
    /// finishes with exactly D. Readers end with timedOut in [D, D + 2 s].
    @Test func concurrentFutureSettersFinalDeadlineHonoured() throws {
        for round in 0..<5 {
            let (r, w) = try pipePair()
            defer { try? w.close() }
            let d = try DeadlineDescriptor(r)
            let readers = Self.start([.read, .readUpTo, .read, .readUpTo, .read, .read, .read, .read], on: d)
            let D = Deadline.after(.milliseconds(400))
            let setters = (0..<6).map { i in
                TestThread { () -> Int in
                    var g = SystemRandomNumberGenerator()
                    for _ in 0..<3000 {
                        let v: Deadline = Bool.random(using: &g) ? .never : D + .microseconds(Int.random(in: 0..<200_000, using: &g))
                        switch i % 3 {
                        case 0: d.setReadDeadline(v)
                        case 1: d.setDeadline(v)
                        default: d.setReadDeadline(v); d.setWriteDeadline(.now)
                        }
                    }
                    d.setReadDeadline(D)
                    return 0
                }
            }
            for s in setters { _ = s.join(within: .seconds(10)) }
            #expect(d.readDeadline == D, "round \(round)")
            let results = Self.outcomes(readers, within: (D - .now) + .seconds(2))
            #expect(results.allSatisfy { $0 == .failure(.timedOut) }, "round \(round): \(results)")
            for t in readers {
                if let at = t.finishedAt { #expect(at >= D, "round \(round): ended \(D - at) early") }
            }
        }
    }

    /// A reader that keeps starting calls while the deadline is moved to
    /// 50 ms ahead: the call running at the deadline ends, never a later one
    /// goes on unbounded.
    @Test func deadlineSetWhileCallersStartFuture() throws {
        for _ in 0..<20 {
            let (r, w) = try pipePair()
            defer { try? w.close() }
            let d = try DeadlineDescriptor(r)
            let gate = Atomic<Bool>(false)
            let readers = (0..<6).map { _ in
                TestThread { () -> IOResult in
                    while !gate.load(ordering: .acquiring) {}
                    var byte: UInt8 = 0
                    do throws(Errno) { return .success(try withUnsafeMutableBytes(of: &byte) { (p) throws(Errno) in try d.read(into: p) }) } catch { return .failure(error) }
                }
            }
            gate.store(true, ordering: .releasing)
            for _ in 0..<Int.random(in: 0..<5000) { _ = Deadline.now }
            let D = Deadline.after(.milliseconds(50))
            d.setReadDeadline(D)
            let results = Self.outcomes(readers, within: .seconds(2))
            #expect(results.allSatisfy { $0 == .failure(.timedOut) }, "\(results)")
        }
    }

    /// The thread's own deadline still applies to descriptor calls, and
    /// the tightest wins in both orders.
    @Test func threadDeadlineAndDescriptorDeadlineTightestWins() throws {
        let (r, w) = try pipePair()
        defer { try? w.close() }
        let d = try DeadlineDescriptor(r)
        d.setReadDeadline(.after(.seconds(60)))
        let threadDeadline = Deadline.after(.milliseconds(150))
        let byThread = Self.start([.read, .readUpTo], on: d, before: { try? InterruptibleThread.current().setDeadline(threadDeadline) })
        let plain = Self.start([.read, .read], on: d)
        let r1 = Self.outcomes(byThread)
        #expect(r1.allSatisfy { $0 == .failure(.timedOut) }, "\(r1)")
        for t in byThread { if let at = t.finishedAt { #expect(at >= threadDeadline) } }
        #expect(plain.allSatisfy { !$0.isFinished }, "a thread deadline ended another thread's call")
        // Now the descriptor's earlier than a (later) thread deadline.
        let late = Self.start([.read], on: d, before: { try? InterruptibleThread.current().setDeadline(.after(.seconds(30))) })
        let D = Deadline.after(.milliseconds(100))
        d.setReadDeadline(D)
        let r2 = Self.outcomes(plain + late)
        #expect(r2.allSatisfy { $0 == .failure(.timedOut) }, "\(r2)")
    }

    /// Cancel, sticky cancel and the descriptor deadline on the same callers.
    @Test func cancelAndDeadlineOnSameCallers() throws {
        let (r, w) = try pipePair()
        defer { try? w.close() }
        let d = try DeadlineDescriptor(r)
        d.setReadDeadline(.after(.milliseconds(300)))
        let readers = Self.start(Array(repeating: .read, count: 6), on: d)
        _ = try readers[0].handle?.cancel()
        _ = try readers[1].handle?.cancel()
        let first = Self.outcomes(Array(readers[0..<2]))
        #expect(first.allSatisfy { $0 == .failure(.canceled) }, "\(first)")
        #expect(readers[2...].allSatisfy { !$0.isFinished })
        let rest = Self.outcomes(Array(readers[2...]))
        #expect(rest.allSatisfy { $0 == .failure(.timedOut) }, "\(rest)")
    }

    /// Bytes written before a write deadline fired are all readable, and
    /// each call's count is exact (writer loops 64 KiB writes; deadline
    /// repeatedly set 2 ms ahead; peer drains).
    @Test func writeDeadlinesNeverLoseBytes() throws {
        let (a, b) = socketPair()
        var small: CInt = 8192
        setsockopt(a.rawValue, SOL_SOCKET, SO_SNDBUF, &small, socklen_t(MemoryLayout<CInt>.size))
        let d = try DeadlineDescriptor(a)
        let stop = Atomic<Bool>(false)
        let writer = TestThread { () -> (Int, Int, Errno?) in
            var sent = 0, timeouts = 0
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                for i in 0..<chunk.count { chunk[i] = UInt8(truncatingIfNeeded: (sent + i) &* 7 &+ 3) }
                do {
                    sent += try chunk.withUnsafeBytes { try d.write($0) }
                } catch {
                    let e = error as? Errno ?? .ioError
                    guard e == .timedOut else { return (sent, timeouts, e) }
                    timeouts += 1
                    if stop.load(ordering: .acquiring) { return (sent, timeouts, nil) }
                }
            }
        }
        let reader = TestThread { () -> (Int, Int) in
            var got = 0, bad = 0
            var buf = [UInt8](repeating: 0, count: 3000)
            while true {
                let n = buf.withUnsafeMutableBytes { Glibc.read(b.rawValue, $0.baseAddress, $0.count) }
                if n <= 0 { return (got, bad) }
                for i in 0..<n where buf[i] != UInt8(truncatingIfNeeded: (got + i) &* 7 &+ 3) { bad += 1 }
                got += n
                if got % 9000 == 0 { usleep(100) }
            }
        }
        let end = Deadline.after(.milliseconds(1500))
        while !end.hasPassed {
            d.setWriteDeadline(.after(.microseconds(Int.random(in: 100..<3000))))
            usleep(UInt32.random(in: 500..<4000))
        }
        stop.store(true, ordering: .releasing)
        d.setWriteDeadline(.now)
        let (sent, timeouts, error) = try #require(writer.join())
        #expect(error == nil)
        try d.close()
        let (got, bad) = try #require(reader.join())
        try? b.close()
        #expect(bad == 0)
        #expect(got == sent, "peer read \(got), writer's counts sum to \(sent) (timeouts \(timeouts))")
        #expect(timeouts > 1)
    }

    /// deinit and close: exactly one close of the number, across many
    /// rounds where the number is reused at once, with a caller in flight.
    @Test func deinitNeverClosesAReusedNumber() throws {
        var reused = 0
        for round in 0..<200 {
            let (r, w) = try pipePair()
            var d: DeadlineDescriptor? = try DeadlineDescriptor(r)
            let reader = Self.start([.read], on: d!)
            try d!.close()
            let f = open("/dev/null", O_RDONLY | O_CLOEXEC)
            if f == r.rawValue { reused += 1 }
            #expect(reader[0].join() == .failure(.badFileDescriptor))
            d = nil // deinit after close: must not close f
            #expect(Self.isOpen(f), "round \(round): deinit closed the reused number")
            if round % 2 == 0 {
                // deinit of an unclosed descriptor closes its own number only
                var e: DeadlineDescriptor? = try DeadlineDescriptor(FileDescriptor(rawValue: f))
                #expect(e!.fileDescriptor.rawValue == f)
                e = nil
                #expect(!Self.isOpen(f))
            } else {
                close(f)
            }
            try w.close()
        }
        #expect(reused > 100)
    }

    /// After close, every synchronous form throws badFileDescriptor and a
    /// socket dup2'd onto the number is not touched.
    @Test func everySyncFormAfterCloseThrowsBadFileDescriptor() throws {
        let (a, b) = socketPair()
        defer { try? b.close() }
        let d = try DeadlineDescriptor(a)
        try d.close()
        let (c, e) = socketPair()
        defer { try? c.close(); try? e.close() }
        let moved = dup2(c.rawValue, a.rawValue)
        #expect(moved == a.rawValue)
        defer { if moved != c.rawValue { close(moved) } }
        _ = rawWrite(e, [1, 2, 3])
        var buffer = [UInt8](repeating: 0, count: 8)
        func check(_ what: String, _ body: () throws -> Void) {
            do { try body(); Issue.record("\(what) did not throw") } catch let error as Errno {
                #expect(error == .badFileDescriptor, "\(what)")
            } catch let error as IncompleteTransfer {
                #expect(error.errno == .badFileDescriptor && error.bytesTransferred == 0, "\(what): \(error)")
            } catch { Issue.record("\(what): \(error)") }
        }
        buffer.withUnsafeMutableBytes { b in
            check("read") { _ = try d.read(into: b) }
            check("receive") { _ = try d.receive(into: b) }
            check("readUpTo") { _ = try d.read(upToCount: 4) }
            check("readFilling") { _ = try d.read(filling: b) }
            check("write") { _ = try d.write(UnsafeRawBufferPointer(b)) }
            check("send") { _ = try d.send(UnsafeRawBufferPointer(b)) }
            check("writeAll") { _ = try d.writeAll(UnsafeRawBufferPointer(b)) }
            check("accept") { _ = try d.accept() }
            check("shutdown") { try d.shutdown(.write) }
            check("close") { try d.close() }
        }
        d.setDeadline(.now)
        #expect(d.isClosed)
        #expect(bytesWaiting(FileDescriptor(rawValue: a.rawValue)) == 3, "the reused number's bytes were consumed")
        #expect(bytesWaiting(e) == 0, "the reused number's peer received bytes")
    }

    /// The async forms after close.
    @Test func everyAsyncFormAfterCloseThrowsBadFileDescriptor() async throws {
        let (a, b) = socketPair()
        defer { try? b.close() }
        let d = try DeadlineDescriptor(a)
        try d.close()
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 1)
        defer { scratch.deallocate() }
        let buf = Unchecked(scratch)
        let results: [Outcome<Int>] = [
            await outcome { try await d.read(into: buf.value) },
            await outcome { try await d.receive(into: buf.value) },
            await outcome { try await d.read(upToCount: 4).count },
            await outcome { try await d.write(UnsafeRawBufferPointer(buf.value)) },
            await outcome { try await d.send(UnsafeRawBufferPointer(buf.value)) },
            await outcome { Int(try await d.accept().rawValue) },
        ]
        for r in results { #expect(r == .errno(.badFileDescriptor), "async: \(r)") }
        let filling = await outcome { try await d.read(filling: buf.value) }
        #expect(filling == .errno(.badFileDescriptor) || filling == .incomplete(IncompleteTransfer(errno: .badFileDescriptor, bytesTransferred: 0)), "\(filling)")
        let all = await outcome { try await d.writeAll(UnsafeRawBufferPointer(buf.value)) }
        #expect(all == .errno(.badFileDescriptor) || all == .incomplete(IncompleteTransfer(errno: .badFileDescriptor, bytesTransferred: 0)), "\(all)")
    }
}

extension Array {
    func repeated(_ n: Int) -> [Element] { (0..<n).flatMap { _ in self } }
}
