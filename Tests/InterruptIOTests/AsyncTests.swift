import CInterruptIO
import InterruptIO
import Synchronization
import SystemPackage
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// How an async call ended, for assertions.
enum Outcome<Value: Equatable & Sendable>: Equatable, Sendable {
    case value(Value)
    case cancelled // CancellationError: the Task's cancellation
    case errno(Errno)
    case incomplete(IncompleteTransfer)
    case other(String)
}

func outcome<Value: Equatable & Sendable>(_ body: () async throws -> Value) async -> Outcome<Value> {
    do { return .value(try await body()) } catch is CancellationError { return .cancelled } catch let error as Errno {
        return .errno(error)
    } catch let error as IncompleteTransfer { return .incomplete(error) } catch { return .other("\(error)") }
}

/// Bytes waiting in a pipe (FIONREAD), without reading them.
func bytesWaiting(_ fd: FileDescriptor) -> Int {
    var n: CInt = 0
    _ = ioctl(fd.rawValue, UInt(FIONREAD), &n)
    return Int(n)
}

/// A plain write(2), usable from async code (the library's sync forms are
/// noasync).
@discardableResult
func rawWrite(_ fd: FileDescriptor, _ bytes: [UInt8]) -> Int {
    bytes.withUnsafeBytes { Glibc.write(fd.rawValue, $0.baseAddress, $0.count) }
}

@Suite(.serialized) struct AsyncBridge {
    /// The headline: a task group reading from several quiet pipes,
    /// cancelled as a whole; every read returns promptly with
    /// CancellationError and every pipe still works afterwards.
    @Test func taskGroupOfBlockedReadsCancelledAsAWhole() async throws {
        let pipes = try (0..<6).map { _ in try pipePair() }
        defer { for (r, w) in pipes { try? r.close(); try? w.close() } }
        let started = Deadline.now
        let outcomes = await withTaskGroup(of: Outcome<[UInt8]>.self) { group -> [Outcome<[UInt8]>] in
            for (r, _) in pipes {
                group.addTask { await outcome { try await r.read(upToCount: 8, deadline: .never) } }
            }
            try? await Task.sleep(for: .milliseconds(100))
            group.cancelAll()
            var all: [Outcome<[UInt8]>] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        #expect(outcomes.count == 6)
        #expect(outcomes.allSatisfy { $0 == .cancelled })
        #expect(Deadline.now - started < .seconds(3))
        for (r, w) in pipes {
            #expect(rawWrite(w, [42]) == 1)
            let bytes = try await r.read(upToCount: 1, deadline: .after(.seconds(2)))
            #expect(bytes == [42])
        }
    }

    /// A request-level timeout around several operations: the first two
    /// complete, the third runs into the shared deadline.
    @Test func requestLevelDeadlineAroundSeveralOperations() async throws {
        let (r, w) = try pipePair()
        defer { try? r.close(); try? w.close() }
        #expect(rawWrite(w, [1, 2]) == 2)
        let deadline = Deadline.after(.milliseconds(150))
        let result: Errno? = await InterruptIO.withDeadline(deadline) { () async -> Errno? in
            do {
                for _ in 0..<3 { _ = try await r.read(upToCount: 1, deadline: .never) }
                return nil
            } catch { return error as? Errno }
        }
        #expect(result == .timedOut)
        #expect(Deadline.now >= deadline)
        #expect(Deadline.now - deadline < .seconds(1))
        #expect(InterruptIO.currentTaskDeadline == .never)
    }

    /// withDeadline keeps the operation's typed error.
    @Test func withDeadlineKeepsTypedThrows() async {
        struct Mine: Error, Equatable {}
        let caught: Mine?
        do throws(Mine) {
            try await InterruptIO.withDeadline(.after(.seconds(1))) { () async throws(Mine) in throw Mine() }
            caught = nil
        } catch { caught = error }
        #expect(caught == Mine())
    }

    @Test func taskCancelledBeforeItsCallStartsNeverBlocks() async throws {
        let (r, w) = try pipePair()
        defer { try? r.close(); try? w.close() }
        #expect(rawWrite(w, [7]) == 1)
        let task = Task { () -> Outcome<[UInt8]> in
            withUnsafeCurrentTask { $0?.cancel() }
            return await outcome { try await r.read(upToCount: 1, deadline: .never) }
        }
        #expect(await task.value == .cancelled)
        #expect(bytesWaiting(r) == 1) // never ran
    }

    @Test func asyncHelpersCountWhatMoved() async throws {
        let (r, w) = try pipePair()
        defer { try? r.close(); try? w.close() }
        #expect(rawWrite(w, [1, 2, 3]) == 3)
        #expect(await outcome { try await r.read(exactly: 8, deadline: .after(.milliseconds(50))) }
            == .incomplete(IncompleteTransfer(errno: .timedOut, bytesTransferred: 3)))
        let wrote = try await w.writeAll([UInt8](repeating: 9, count: 100), deadline: .after(.seconds(2)))
        #expect(wrote == 100)
        #expect(try await r.read(exactly: 100, deadline: .after(.seconds(2))) == [UInt8](repeating: 9, count: 100))
        // Any sequence, not only arrays.
        #expect(try await w.writeAll((1...5).lazy.map { UInt8($0) }, deadline: .after(.seconds(2))) == 5)
        #expect(try await r.read(exactly: 5, deadline: .after(.seconds(2))) == [1, 2, 3, 4, 5])
    }

    /// A looping helper cancelled by its Task reports the count it moved.
    @Test func cancelledLoopKeepsItsCount() async throws {
        let (r, w) = try pipePair()
        defer { try? r.close(); try? w.close() }
        let filled = fill(w)
        let payload = [UInt8](repeating: 3, count: 100_000)
        let task = Task { await outcome { try await w.writeAll(payload, deadline: .never) } }
        try await Task.sleep(for: .milliseconds(50))
        // Make room for part of it, then cancel.
        var sink = [UInt8](repeating: 0, count: 20_000)
        let drained = sink.withUnsafeMutableBytes { Glibc.read(r.rawValue, $0.baseAddress, $0.count) }
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()
        guard case .incomplete(let stop) = await task.value else {
            Issue.record("expected IncompleteTransfer")
            return
        }
        #expect(stop.errno == .canceled)
        #expect(stop.bytesTransferred > 0)
        #expect(bytesWaiting(r) == filled - drained + stop.bytesTransferred)
    }

    @Test func asyncOpenOfAFifoIsCancelledWithItsTask() async throws {
        let path = "/tmp/iio-async-fifo-\(getpid())"
        unlink(path)
        #expect(mkfifo(path, 0o600) == 0)
        defer { unlink(path) }
        let opener = Task { await outcome { try await FileDescriptor.open(FilePath(path), .readOnly, deadline: .never).rawValue } }
        try await Task.sleep(for: .milliseconds(50))
        opener.cancel()
        #expect(await opener.value == .cancelled)
    }

    /// An explicit cancel (a group the operation joined) stays
    /// Errno.canceled: only the Task's own cancellation is CancellationError.
    @Test func explicitCancelStaysErrnoCanceled() async throws {
        let (r, w) = try pipePair()
        defer { try? r.close(); try? w.close() }
        let group = CancellationGroup()
        let task = Task {
            await outcome {
                try await BlockingPool.run {
                    try group.withMembership { () throws(Errno) in try r.read(upToCount: 4, deadline: .never) }
                }
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        _ = group.cancel()
        #expect(await task.value == .errno(.canceled))
    }

    @Test func cancellationGroupShutsDownEveryMember() throws {
        let group = CancellationGroup()
        let pipes = try (0..<8).map { _ in try pipePair() }
        defer { for (r, w) in pipes { try? r.close(); try? w.close() } }
        let threads = pipes.map { (r, _) in
            TestThread { () -> [IOResult] in
                group.withMembership { [readResult(r, deadline: .never), readResult(r, deadline: .never)] }
            }
        }
        usleep(30_000)
        let start = Deadline.now
        #expect(group.cancel() >= 1)
        #expect(group.isCancelled)
        for t in threads {
            let results = t.join(within: .seconds(2))
            #expect(results == [.failure(.canceled), .failure(.canceled)])
        }
        #expect(Deadline.now - start < .seconds(2))
        group.reset()
        #expect(!group.isCancelled)
        // After leaving, a former member's calls work again.
        let (r0, w0) = pipes[0]
        #expect(writeResult(w0, [5], deadline: .never) == .success(1))
        #expect(readResult(r0, deadline: .after(.seconds(1))) == .success(1))
    }

    /// 64, then 300 async reads blocked on empty pipes, plus one async
    /// write that satisfies one of them: the pool grows, so the write runs
    /// and its reader gets the bytes.
    @Test(arguments: [64, 300]) func blockedReadsNeverHoldUpAWrite(readers: Int) async throws {
        let pipes = try (0..<readers).map { _ in try pipePair() }
        defer { for (r, w) in pipes { try? r.close(); try? w.close() } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (r, _) in pipes.dropFirst() {
                group.addTask { _ = try? await r.read(upToCount: 8, deadline: .after(.seconds(30))) }
            }
            let (r0, w0) = pipes[0]
            let reader = Task { try await r0.read(upToCount: 8, deadline: .after(.seconds(10))) }
            try await Task.sleep(for: .milliseconds(100))
            let wrote = try await w0.write([1, 2, 3], deadline: .after(.seconds(5)))
            #expect(wrote == 3)
            #expect(try await reader.value == [1, 2, 3])
            group.cancelAll()
        }
    }

    /// The pool's threads carry a name that `top -H` shows.
    @Test func poolThreadsAreNamed() async throws {
        let name = try await BlockingPool.run { () -> String in
            let fd = open("/proc/thread-self/comm", O_RDONLY)
            defer { close(fd) }
            var bytes = [UInt8](repeating: 0, count: 32)
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            return String(decoding: bytes[..<max(n, 0)], as: UTF8.self)
        }
        #expect(name == "iio-pool\n")
    }
}

/// The pool at its limit: each scenario in a child process (exit test), so
/// the small maximum never slows the other suites' async calls. Exit codes
/// name what went wrong.
@Suite struct AsyncPoolLimit {
    enum Stop: String, CaseIterable, Sendable, Codable { case taskCancel, callDeadline, scopeDeadline }

    @Test(arguments: Stop.allCases) func queuedCallsLeaveTheQueueWithoutRunning(stop: Stop) async {
        await #expect(processExitsWith: .success) { [stop] in
            alarm(30) // a call that never completes fails the test, not hangs it
            BlockingPool.maximumThreads = 4
            // Hold every thread.
            let holders = try (0..<4).map { _ in try pipePair() }
            let held = holders.map { (r, _) in Task { _ = try? await r.read(upToCount: 1, deadline: .never) } }
            while BlockingPool.threadCount < 4 || BlockingPool.queuedCount > 0 { try await Task.sleep(for: .milliseconds(5)) }
            try await Task.sleep(for: .milliseconds(50))
            // 200 calls queued behind them, on a pipe holding 200 bytes.
            let (r, w) = try pipePair()
            guard rawWrite(w, [UInt8](repeating: 1, count: 200)) == 200 else { exit(10) }
            let started = Deadline.now
            let expiry = Deadline.after(.milliseconds(300))
            let queued: [Task<Outcome<[UInt8]>, Never>] = (0..<200).map { _ in
                Task {
                    switch stop {
                    case .taskCancel:
                        return await outcome { try await r.read(upToCount: 1, deadline: .never) }
                    case .callDeadline:
                        return await outcome { try await r.read(upToCount: 1, deadline: expiry) }
                    case .scopeDeadline:
                        return await InterruptIO.withDeadline(expiry) {
                            await outcome { try await r.read(upToCount: 1, deadline: .never) }
                        }
                    }
                }
            }
            while BlockingPool.queuedCount < 200 { try await Task.sleep(for: .milliseconds(5)) }
            if stop == .taskCancel { for task in queued { task.cancel() } }
            let expected: Outcome<[UInt8]> = stop == .taskCancel ? .cancelled : .errno(.timedOut)
            for task in queued where await task.value != expected {
                print("unexpected outcome \(await task.value)")
                exit(11)
            }
            let took = Deadline.now - started
            if took > .seconds(2) { print("took \(took)"); exit(12) }
            if stop != .taskCancel && Deadline.now < expiry { exit(13) } // never early
            if bytesWaiting(r) != 200 { print("\(200 - bytesWaiting(r)) queued calls ran"); exit(14) }
            if BlockingPool.queuedCount != 0 { exit(15) }
            // The holders are still served, and then the pool takes calls again.
            for (_, hw) in holders { rawWrite(hw, [9]) }
            for task in held { await task.value }
            guard try await r.read(upToCount: 200, deadline: .after(.seconds(2))).count == 200 else { exit(16) }
            exit(0)
        }
    }

    /// At the limit a call waits for a thread and runs when one frees;
    /// idle threads retire after the idle timeout.
    @Test func atTheLimitCallsWaitThenRunAndIdleThreadsRetire() async {
        await #expect(processExitsWith: .success) {
            alarm(30)
            BlockingPool.maximumThreads = 2
            BlockingPool.idleTimeout = .milliseconds(200)
            let (r1, w1) = try pipePair(), (r2, w2) = try pipePair(), (r3, w3) = try pipePair()
            let a = Task { try await r1.read(upToCount: 1, deadline: .never) }
            let b = Task { try await r2.read(upToCount: 1, deadline: .never) }
            while BlockingPool.threadCount < 2 { try await Task.sleep(for: .milliseconds(5)) }
            try await Task.sleep(for: .milliseconds(50))
            guard rawWrite(w3, [3]) == 1 else { exit(20) }
            let c = Task { try await r3.read(upToCount: 1, deadline: .after(.seconds(10))) }
            while BlockingPool.queuedCount < 1 { try await Task.sleep(for: .milliseconds(5)) }
            if BlockingPool.threadCount != 2 { exit(21) }
            rawWrite(w1, [1])
            guard try await a.value == [1], try await c.value == [3] else { exit(22) }
            rawWrite(w2, [2])
            guard try await b.value == [2] else { exit(23) }
            let end = Deadline.after(.seconds(5))
            while BlockingPool.threadCount > 0 && !end.hasPassed { try await Task.sleep(for: .milliseconds(20)) }
            if BlockingPool.threadCount != 0 { print("\(BlockingPool.threadCount) threads left"); exit(24) }
            // A retired pool makes threads again.
            rawWrite(w1, [5])
            guard try await r1.read(upToCount: 1, deadline: .after(.seconds(2))) == [5] else { exit(25) }
            exit(0)
        }
    }
}
