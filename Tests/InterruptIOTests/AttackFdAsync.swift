import CInterruptIO
import InterruptIO
import Synchronization
import SystemPackage
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Outside attack on the async forms of `DeadlineDescriptor` (run on the
/// blocking pool): close, deadlines and Task cancellation on many awaiting
/// calls at once; partial counts; deinit with async users.
/// Run: swift test --no-parallel --filter AttackFd
@Suite(.serialized) struct AttackFdAsync {
    static func reads(_ n: Int, on d: DeadlineDescriptor, count: Int = 8) -> [Task<Outcome<Int>, Never>] {
        (0..<n).map { _ in
            Task {
                await outcome {
                    let b = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 1)
                    defer { b.deallocate() }
                    return try await d.read(into: b)
                }
            }
        }
    }

    /// 64 awaiting reads (and 8 awaiting accepts on another descriptor);
    /// close ends them all with badFileDescriptor within 2 s and the number
    /// is closed when close returns.
    @Test func closeEndsManyAwaitingCalls() async throws {
        let (r, w) = try pipePair()
        defer { try? w.close() }
        let d = try DeadlineDescriptor(r)
        let tasks = Self.reads(64, on: d)
        let (l, _) = tcpListener()
        let listener = try DeadlineDescriptor(l)
        let accepts = (0..<8).map { _ in Task { await outcome { Int(try await listener.accept().rawValue) } } }
        try await Task.sleep(for: .milliseconds(300))
        let t0 = Deadline.now
        try d.close()
        try listener.close()
        #expect(fcntl(r.rawValue, F_GETFD) < 0, "number open after close returned")
        #expect(Deadline.now - t0 < .seconds(2))
        var results: [Outcome<Int>] = []
        for t in tasks { results.append(await t.value) }
        for t in accepts { results.append(await t.value) }
        #expect(Deadline.now - t0 < .seconds(3))
        let bad = results.filter { $0 != .errno(.badFileDescriptor) }
        #expect(bad.isEmpty, "\(bad.count) not badFileDescriptor: \(bad.prefix(5))")
    }

    /// A future read deadline reaches 64 awaiting reads at its instant.
    @Test func futureDeadlineReachesManyAwaitingReads() async throws {
        let (r, w) = try pipePair()
        defer { try? w.close() }
        let d = try DeadlineDescriptor(r)
        d.setReadDeadline(.after(.seconds(60)))
        let tasks = Self.reads(64, on: d)
        try await Task.sleep(for: .milliseconds(300))
        let D = Deadline.after(.milliseconds(200))
        d.setReadDeadline(D)
        var results: [Outcome<Int>] = []
        for t in tasks { results.append(await t.value) }
        let after = Deadline.now
        #expect(after >= D, "ended before the deadline")
        #expect(after - D < .seconds(2))
        let bad = results.filter { $0 != .errno(.timedOut) }
        #expect(bad.isEmpty, "\(bad.count) not timedOut: \(bad.prefix(5))")
        // nothing lost afterwards
        d.setReadDeadline(.never)
        rawWrite(w, [9])
        let b = try await d.read(upToCount: 4)
        #expect(b == [9])
    }

    /// A deadline set before the awaiting calls start, while they are
    /// queued or starting: each either starts and is bounded, or fails at
    /// once. None runs on.
    @Test func deadlineWhileAsyncCallsStart() async throws {
        for _ in 0..<10 {
            let (r, w) = try pipePair()
            defer { try? w.close() }
            let d = try DeadlineDescriptor(r)
            let tasks = Self.reads(40, on: d)
            d.setReadDeadline(.after(.milliseconds(Int.random(in: 0..<20))))
            let t0 = Deadline.now
            var results: [Outcome<Int>] = []
            for t in tasks { results.append(await t.value) }
            #expect(Deadline.now - t0 < .seconds(2))
            #expect(results.allSatisfy { $0 == .errno(.timedOut) }, "\(Set(results.map { "\($0)" }))")
        }
    }

    /// Half the tasks cancelled: they throw CancellationError; the others
    /// still wait; then the deadline ends those; the pipe still works.
    @Test func taskCancelAndDeadlineOnSameDescriptor() async throws {
        let (r, w) = try pipePair()
        defer { try? w.close() }
        let d = try DeadlineDescriptor(r)
        let tasks = Self.reads(20, on: d)
        try await Task.sleep(for: .milliseconds(200))
        for t in tasks[0..<10] { t.cancel() }
        for t in tasks[0..<10] {
            let v = await t.value
            #expect(v == .cancelled, "\(v)")
        }
        try await Task.sleep(for: .milliseconds(50))
        d.setReadDeadline(.after(.milliseconds(50)))
        for t in tasks[10...] {
            let v = await t.value
            #expect(v == .errno(.timedOut), "\(v)")
        }
        d.setReadDeadline(.never)
        rawWrite(w, [1, 2])
        #expect(try await d.read(upToCount: 8) == [1, 2])
    }

    /// read(filling:) gets 4 of 10 bytes, then close / deadline / cancel:
    /// the count is kept (IncompleteTransfer with 4) and the bytes are there.
    @Test(arguments: [0, 1, 2])
    func partialFillThenEnd(how: Int) async throws {
        let (r, w) = try pipePair()
        defer { try? w.close() }
        let d = try DeadlineDescriptor(r)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 10, alignment: 1)
        scratch.initializeMemory(as: UInt8.self, repeating: 0)
        defer { scratch.deallocate() }
        let buf = Unchecked(scratch)
        let task = Task { await outcome { try await d.read(filling: buf.value) } }
        try await Task.sleep(for: .milliseconds(100))
        rawWrite(w, [1, 2, 3, 4])
        try await Task.sleep(for: .milliseconds(100))
        let expected: Errno
        switch how {
        case 0: try d.close(); expected = .badFileDescriptor
        case 1: d.setReadDeadline(.now); expected = .timedOut
        default: task.cancel(); expected = .canceled
        }
        let v = await task.value
        #expect(v == .incomplete(IncompleteTransfer(errno: expected, bytesTransferred: 4)), "\(v)")
        #expect(Array(scratch[0..<4]) == [1, 2, 3, 4])
    }

    /// writeAll of 4 MiB into a socket whose peer drains slowly; a write
    /// deadline ends it: the reported count equals the bytes the peer gets.
    @Test func asyncWriteAllDeadlineCountIsExact() async throws {
        let (a, b) = socketPair()
        let d = try DeadlineDescriptor(a)
        let total = 4 << 20
        let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: total, alignment: 1)
        defer { payload.deallocate() }
        for i in 0..<total { payload[i] = UInt8(truncatingIfNeeded: i &* 13 &+ 1) }
        let p = Unchecked(payload)
        let reader = TestThread { () -> (Int, Int) in
            var got = 0, bad = 0
            var buf = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buf.withUnsafeMutableBytes { Glibc.read(b.rawValue, $0.baseAddress, $0.count) }
                if n <= 0 { return (got, bad) }
                for i in 0..<n where buf[i] != UInt8(truncatingIfNeeded: (got + i) &* 13 &+ 1) { bad += 1 }
                got += n
                usleep(200)
            }
        }
        let task = Task { await outcome { try await d.writeAll(UnsafeRawBufferPointer(p.value)) } }
        try await Task.sleep(for: .milliseconds(100))
        d.setWriteDeadline(.after(.milliseconds(100)))
        let v = await task.value
        try d.close()
        guard let (got, bad) = reader.join() else { Issue.record("reader hung"); return }
        try? b.close()
        #expect(bad == 0)
        switch v {
        case .incomplete(let e):
            #expect(e.errno == .timedOut)
            #expect(e.bytesTransferred == got, "reported \(e.bytesTransferred), peer got \(got)")
        default: Issue.record("writeAll: \(v)")
        }
    }

    /// Many rounds: async reads in flight, close, the number reused at once
    /// by a pipe holding a sentinel; no old call consumes it; the object
    /// dropped afterwards does not close the reused number.
    @Test func asyncCloseNeverTouchesReusedNumber() async throws {
        var reused = 0
        for round in 0..<100 {
            let (r, w) = try pipePair()
            var d: DeadlineDescriptor? = try DeadlineDescriptor(r)
            let tasks = Self.reads(4, on: d!)
            for _ in 0..<Int.random(in: 0..<3) { await Task.yield() }
            if Bool.random() { try await Task.sleep(for: .microseconds(Int.random(in: 0..<3000))) }
            try d!.close()
            let q = try pipePair()
            let reusedHere = q.0.rawValue == r.rawValue || q.1.rawValue == r.rawValue
            if reusedHere { reused += 1 }
            rawWrite(q.1, Array("SENTINEL".utf8))
            for t in tasks {
                let v = await t.value
                #expect(v == .errno(.badFileDescriptor), "round \(round): \(v)")
            }
            d = nil
            #expect(fcntl(q.0.rawValue, F_GETFD) >= 0 && fcntl(q.1.rawValue, F_GETFD) >= 0, "round \(round): reused number closed")
            #expect(bytesWaiting(q.0) == 8, "round \(round): sentinel consumed")
            try q.0.close(); try q.1.close(); try w.close()
        }
        #expect(reused > 50)
    }

    /// The object is dropped by its only owner while async calls hold it:
    /// they keep it alive; when they end (deadline), deinit closes once.
    @Test func droppedWhileAsyncCallsRun() async throws {
        let (r, w) = try pipePair()
        defer { try? w.close() }
        var d: DeadlineDescriptor? = try DeadlineDescriptor(r)
        let tasks = Self.reads(8, on: d!)
        try await Task.sleep(for: .milliseconds(100))
        d!.setReadDeadline(.after(.milliseconds(100)))
        d = nil
        try await Task.sleep(for: .milliseconds(20))
        #expect(fcntl(r.rawValue, F_GETFD) >= 0, "closed while calls still hold the descriptor")
        for t in tasks {
            let v = await t.value
            #expect(v == .errno(.timedOut), "\(v)")
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(fcntl(r.rawValue, F_GETFD) < 0, "deinit did not close the number")
    }
}
