import InterruptIO
import Synchronization
import SystemPackage
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Appends a line to /tmp/interruptio-attack-diag.log (exit-test children's stdout is not shown).
func diag(_ text: String) {
    let line = "[\(getpid())] \(text)\n"
    let fd = open("/tmp/interruptio-attack-diag.log", O_WRONLY | O_CREAT | O_APPEND, 0o644)
    guard fd >= 0 else { return }
    _ = line.utf8CString.withUnsafeBufferPointer { Glibc.write(fd, $0.baseAddress, $0.count - 1) }
    close(fd)
}

/// Busy-waits (on the calling thread) until `deadline`; microsecond precision.
func spin(until deadline: Deadline) { while !deadline.hasPassed {} }

final class Flag: @unchecked Sendable {
    let value = Atomic<Int>(0)
}


/// Starts an operation on the pool and returns once it is running on a pool thread.
func startHolder<R: Sendable>(_ op: @escaping @Sendable () throws -> R) async -> Task<R, Error> {
    let started = Flag()
    let t = Task { try await BlockingPool.run { () throws -> R in started.value.store(1, ordering: .sequentiallyConsistent); return try op() } }
    while started.value.load(ordering: .sequentiallyConsistent) == 0 { await Task.yield() }
    return t
}

@Suite struct OutsideAsyncAttack {

    // MARK: 3. Sticky cancel / deadline set by an operation must not leak to the next call

    /// Doc (BlockingPool): "the thread's deadline and cancel are cleared
    /// before it takes its next call". An operation that leaves a sticky
    /// cancel on its own pool thread (public InterruptibleThread API).
    @Test func stickyCancelLeftByAnOperationLeaksToNextCall() async {
        await #expect(processExitsWith: .success) {
            alarm(30)
            BlockingPool.maximumThreads = 1
            let (r, w) = try pipePair()
            rawWrite(w, [1])
            _ = try await BlockingPool.run { () throws(Errno) in _ = try InterruptibleThread.current().cancelSticky() }
            let o = await outcome { try await r.read(upToCount: 1, deadline: .never) }
            if o != .value([1]) { diag("stickyCancelLeak: next uncancelled call got \(o)"); exit(31) }
            exit(0)
        }
    }

    /// How long the leaked sticky cancel / deadline poisons the thread:
    /// every later call on it until a Task-cancelled call happens to clear it.
    @Test func leakedStatePersistsAcrossCalls() async {
        await #expect(processExitsWith: .success) {
            alarm(30)
            BlockingPool.maximumThreads = 1
            let (r, w) = try pipePair()
            _ = try await BlockingPool.run { () throws(Errno) in _ = try InterruptibleThread.current().cancelSticky() }
            var failed = 0
            for _ in 0..<20 {
                rawWrite(w, [1])
                let o = await outcome { try await r.read(upToCount: 1, deadline: .after(.seconds(5))) }
                if o != .value([1]) { failed += 1; var b: UInt8 = 0; _ = Glibc.read(r.rawValue, &b, 1) }
            }
            let (r2, w2) = try pipePair()
            _ = try await BlockingPool.run { () throws(Errno) in _ = try InterruptibleThread.current().clearCancel(); try InterruptibleThread.current().setDeadline(.now) }
            var timedOut = 0
            for _ in 0..<20 {
                rawWrite(w2, [1])
                let o = await outcome { try await r2.read(upToCount: 1, deadline: .never) }
                if o != .value([1]) { timedOut += 1; var b: UInt8 = 0; _ = Glibc.read(r2.rawValue, &b, 1) }
            }
            diag("persistence: \(failed)/20 later calls failed after a leaked sticky cancel; \(timedOut)/20 later no-deadline calls failed after a leaked thread deadline")
            exit(failed == 0 && timedOut == 0 ? 0 : 35)
        }
    }

    /// Same with a one-shot cancel() of the own thread while it is not in a call.
    @Test func oneShotCancelLeftByAnOperationLeaksToNextCall() async {
        await #expect(processExitsWith: .success) {
            alarm(30)
            BlockingPool.maximumThreads = 1
            let (r, w) = try pipePair()
            rawWrite(w, [1])
            _ = try await BlockingPool.run { () throws(Errno) in _ = try InterruptibleThread.current().cancel() }
            let o = await outcome { try await r.read(upToCount: 1, deadline: .never) }
            if o != .value([1]) { diag("oneShotCancelLeak: next uncancelled call got \(o)"); exit(32) }
            exit(0)
        }
    }

    /// A thread deadline set by an operation (job without a deadline).
    @Test func threadDeadlineSetByAnOperationLeaksToNextCall() async {
        await #expect(processExitsWith: .success) {
            alarm(30)
            BlockingPool.maximumThreads = 1
            let (r, w) = try pipePair()
            _ = try await BlockingPool.run { () throws(Errno) in
                try InterruptibleThread.current().setDeadline(.after(.milliseconds(50)))
            }
            try await Task.sleep(for: .milliseconds(200))
            let writer = Task { try await Task.sleep(for: .milliseconds(300)); rawWrite(w, [2]) }
            let o = await outcome { try await r.read(upToCount: 1, deadline: .never) }
            _ = try? await writer.value
            if o != .value([2]) { diag("deadlineLeak: next call without deadline got \(o)"); exit(33) }
            exit(0)
        }
    }

    /// A watchdog that holds a pool thread's handle (obtained inside the
    /// operation) and cancels it sticky just after the operation returned.
    @Test func lateExternalStickyCancelLeaksToNextCall() async {
        await #expect(processExitsWith: .success) {
            alarm(30)
            BlockingPool.maximumThreads = 1
            let (r, w) = try pipePair()
            rawWrite(w, [1])
            let handle = try await BlockingPool.run { () throws(Errno) in try InterruptibleThread.current() }
            _ = try handle.cancelSticky() // e.g. a watchdog that fired a little late
            let o = await outcome { try await r.read(upToCount: 1, deadline: .never) }
            if o != .value([1]) { diag("lateExternalCancel: next uncancelled call got \(o)"); exit(34) }
            exit(0)
        }
    }

    // MARK: 3. Task cancel racing completion; no leak to the next call on the same thread

    @Test func cancelRacingCompletionNeverLosesDataNorLeaks() async {
        await #expect(processExitsWith: .success) {
            alarm(60)
            BlockingPool.maximumThreads = 1
            let (r, w) = try pipePair()
            let (r2, w2) = try pipePair()
            var stats = [String: Int]()
            for i in 0..<300 {
                let task = Task { await outcome { try await r.read(upToCount: 1, deadline: .never) } }
                let delay = Int.random(in: 0...1500)
                spin(until: .after(.microseconds(delay)))
                if Bool.random() { rawWrite(w, [UInt8(i & 0xff)]); task.cancel() } else { task.cancel(); rawWrite(w, [UInt8(i & 0xff)]) }
                let o = await task.value
                let waiting = bytesWaiting(r)
                switch o {
                case .value(let v):
                    stats["value", default: 0] += 1
                    if v != [UInt8(i & 0xff)] || waiting != 0 { diag("race \(i): value \(v) waiting \(waiting)"); exit(41) }
                case .cancelled:
                    stats["cancelled", default: 0] += 1
                    if waiting != 1 { diag("race \(i): cancelled but waiting \(waiting) (data lost)"); exit(42) }
                    var sink: UInt8 = 0
                    _ = Glibc.read(r.rawValue, &sink, 1)
                default:
                    diag("race \(i): unexpected \(o)"); exit(43)
                }
                // The next, uncancelled call on the same (only) pool thread.
                rawWrite(w2, [9])
                let next = await outcome { try await r2.read(upToCount: 1, deadline: .after(.seconds(5))) }
                if next != .value([9]) { diag("race \(i): next uncancelled call got \(next) after \(o)"); exit(44) }
            }
            diag("cancelRacingCompletion stats \(stats)")
            exit(0)
        }
    }

    /// A running call with a deadline that the data beats by a hair; the
    /// next call on the same thread (no deadline, blocks ~30 ms) must not
    /// see the previous deadline.
    @Test func deadlineRacingCompletionNeverLeaksToNextCall() async {
        await #expect(processExitsWith: .success) {
            alarm(90)
            BlockingPool.maximumThreads = 1
            let (r, w) = try pipePair()
            let (r2, w2) = try pipePair()
            var stats = [String: Int]()
            for i in 0..<150 {
                let d = Deadline.after(.milliseconds(3))
                let task = Task { await outcome { try await r.read(upToCount: 1, deadline: d) } }
                spin(until: d + .microseconds(Int.random(in: -1500...300)))
                rawWrite(w, [1])
                let o = await task.value
                switch o {
                case .value: stats["value", default: 0] += 1
                case .errno(.timedOut):
                    stats["timedOut", default: 0] += 1
                    if !d.hasPassed { diag("deadline race \(i): timedOut early"); exit(51) }
                    var sink: UInt8 = 0
                    _ = Glibc.read(r.rawValue, &sink, 1)
                default: diag("deadline race \(i): unexpected \(o)"); exit(52)
                }
                let writer = Thread2 { usleep(30_000); rawWrite(w2, [7]) }
                let next = await outcome { try await r2.read(upToCount: 1, deadline: .never) }
                writer.join()
                if next != .value([7]) { diag("deadline race \(i): next call got \(next) after \(o)"); exit(53) }
            }
            diag("deadlineRacingCompletion stats \(stats)")
            exit(0)
        }
    }

    // MARK: 1. A queued call whose deadline passes never runs

    /// Thread frees just after the queued call's deadline: the queued call
    /// must complete with timedOut and never run (the timer thread, not the
    /// freed pool thread, should decide).
    @Test func queuedCallWhoseDeadlinePassedNeverRuns() async {
        await #expect(processExitsWith: .success) {
            alarm(90)
            BlockingPool.maximumThreads = 1
            var ranAfterDeadline = 0
            var total = 0
            var worstLate = Duration.zero
            for delta in [0, 20, 100, 300, 1000, 3000] {
                for _ in 0..<20 {
                    total += 1
                    let d = Deadline.after(.milliseconds(20))
                    let release = d + .microseconds(delta)
                    let blocker = await startHolder { spin(until: release) }
                    let ran = Flag()
                    let queued = Task { await outcome { try await BlockingPool.run(deadline: d) { ran.value.store(1, ordering: .sequentiallyConsistent); return 1 } } }
                    let o = await queued.value
                    let late = Deadline.now - d
                    if late > worstLate { worstLate = late }
                    try await blocker.value
                    if ran.value.load(ordering: .sequentiallyConsistent) == 1 || o != .errno(.timedOut) {
                        ranAfterDeadline += 1
                        diag("queued-after-deadline: delta \(delta)us outcome \(o) ran \(ran.value.load(ordering: .sequentiallyConsistent))")
                    }
                }
            }
            diag("queuedCallWhoseDeadlinePassedNeverRuns: \(ranAfterDeadline)/\(total) ran after deadline; worst completion lateness \(worstLate)")
            exit(ranAfterDeadline == 0 ? 0 : 61)
        }
    }

    /// A timer slot freed by a cancelled queued call (far deadline) and
    /// reused by a call with an earlier deadline: it must still expire on time.
    @Test func reusedTimerSlotWithEarlierDeadlineStillExpires() async {
        await #expect(processExitsWith: .success) {
            alarm(30)
            BlockingPool.maximumThreads = 1
            let release = Deadline.after(.seconds(4))
            let blocker = await startHolder { spin(until: release) }
            let a = Task { await outcome { try await BlockingPool.run(deadline: .after(.seconds(20))) { 1 } } }
            while BlockingPool.queuedCount < 1 { try await Task.sleep(for: .milliseconds(5)) }
            try await Task.sleep(for: .milliseconds(100)) // let the timer thread take A's slot
            a.cancel()
            if await a.value != .cancelled { exit(71) }
            let d = Deadline.after(.milliseconds(300))
            let ran = Flag()
            let b = Task { await outcome { try await BlockingPool.run(deadline: d) { ran.value.store(1, ordering: .relaxed); return 2 } } }
            let o = await b.value
            let late = Deadline.now - d
            if o != .errno(.timedOut) || ran.value.load(ordering: .relaxed) == 1 || late > .seconds(1) {
                diag("slotReuse earlier: outcome \(o) ran \(ran.value.load(ordering: .relaxed)) late \(late)"); exit(72)
            }
            if !d.hasPassed { exit(73) }
            try await blocker.value
            exit(0)
        }
    }

    /// Reverse: slot of a cancelled call with an early deadline reused by a
    /// call with a later one: the later call must not expire early.
    @Test func reusedTimerSlotWithLaterDeadlineNotEarly() async {
        await #expect(processExitsWith: .success) {
            alarm(30)
            BlockingPool.maximumThreads = 1
            let release = Deadline.after(.seconds(4))
            let blocker = await startHolder { spin(until: release) }
            for round in 0..<5 {
                let a = Task { await outcome { try await BlockingPool.run(deadline: .after(.milliseconds(150))) { 1 } } }
                while BlockingPool.queuedCount < 1 { await Task.yield() }
                a.cancel()
                _ = await a.value
                let d = Deadline.after(.milliseconds(400))
                let b = Task { await outcome { try await BlockingPool.run(deadline: d) { 2 } } }
                let o = await b.value
                if o != .errno(.timedOut) || !d.hasPassed { diag("slotReuse later round \(round): \(o) early=\(!d.hasPassed)"); exit(74) }
            }
            try await blocker.value
            exit(0)
        }
    }

    // MARK: 1. Cancel a queued call at the instant a thread frees

    @Test func cancelQueuedCallAsThreadFrees() async {
        await #expect(processExitsWith: .success) {
            alarm(60)
            BlockingPool.maximumThreads = 1
            let (r0, w0) = try pipePair()
            let (r, w) = try pipePair()
            var stats = [String: Int]()
            for i in 0..<200 {
                rawWrite(w, [5])
                let blocker = await startHolder { try r0.read(upToCount: 1, deadline: .after(.seconds(10))) }
                let queued = Task { await outcome { try await r.read(upToCount: 1, deadline: .never) } }
                while BlockingPool.queuedCount < 1 { await Task.yield() }
                spin(until: .after(.microseconds(Int.random(in: 0...200))))
                if Bool.random() { rawWrite(w0, [1]); queued.cancel() } else { queued.cancel(); rawWrite(w0, [1]) }
                let o = await queued.value
                _ = try await blocker.value
                let waiting = bytesWaiting(r)
                switch o {
                case .value: stats["value", default: 0] += 1; if waiting != 0 { exit(81) }
                case .cancelled:
                    stats["cancelled", default: 0] += 1
                    if waiting != 1 { diag("cancelQueued \(i): cancelled yet consumed"); exit(82) }
                    var sink: UInt8 = 0; _ = Glibc.read(r.rawValue, &sink, 1)
                default: diag("cancelQueued \(i): \(o)"); exit(83)
                }
            }
            diag("cancelQueuedCallAsThreadFrees stats \(stats)")
            exit(0)
        }
    }

    /// I/O variant: a queued read whose deadline passed just before the
    /// thread frees; must not consume the byte.
    @Test func queuedReadWhoseDeadlinePassedNeverConsumes() async {
        await #expect(processExitsWith: .success) {
            alarm(90)
            BlockingPool.maximumThreads = 1
            let (r, w) = try pipePair()
            var bad = 0, total = 0
            var seen = [String: Int]()
            for delta in [50, 100, 300, 1000] {
                for _ in 0..<40 {
                    total += 1
                    rawWrite(w, [1])
                    let d = Deadline.after(.milliseconds(20))
                    let release = d + .microseconds(delta)
                    let blocker = await startHolder { spin(until: release) }
                    let o = await outcome { try await r.read(upToCount: 1, deadline: d) }
                    try await blocker.value
                    seen["\(o)", default: 0] += 1
                    if o != .errno(.timedOut) || bytesWaiting(r) != 1 { bad += 1; diag("queuedRead delta \(delta): \(o) waiting \(bytesWaiting(r))") }
                    var sink = [UInt8](repeating: 0, count: 8)
                    _ = fcntl(r.rawValue, F_SETFL, O_NONBLOCK)
                    _ = sink.withUnsafeMutableBytes { Glibc.read(r.rawValue, $0.baseAddress, $0.count) }
                    _ = fcntl(r.rawValue, F_SETFL, 0)
                }
            }
            diag("queuedReadWhoseDeadlinePassedNeverConsumes: \(bad)/\(total) bad; outcomes \(seen)")
            exit(bad == 0 ? 0 : 62)
        }
    }

    /// Rate measurement of the run-after-deadline race (BlockingPool.run with a side effect).
    @Test func queuedRunAfterDeadlineRate() async {
        await #expect(processExitsWith: .success) {
            alarm(120)
            BlockingPool.maximumThreads = 1
            var ran = 0, total = 0
            var perDelta = [Int: Int]()
            for delta in [0, 100, 300, 1000, 3000] {
                for _ in 0..<60 {
                    total += 1
                    let d = Deadline.after(.milliseconds(10))
                    let release = d + .microseconds(delta)
                    let blocker = await startHolder { spin(until: release) }
                    let flag = Flag()
                    _ = await outcome { try await BlockingPool.run(deadline: d) { flag.value.store(d.hasPassed ? 1 : 2, ordering: .relaxed); return 1 } }
                    try await blocker.value
                    if flag.value.load(ordering: .relaxed) != 0 { ran += 1; perDelta[delta, default: 0] += 1 }
                    if flag.value.load(ordering: .relaxed) == 2 { diag("rate: queued op ran BEFORE its deadline though the holder spun past it?!") }
                }
            }
            diag("queuedRunAfterDeadlineRate: \(ran)/\(total) ran after their deadline; by delta(us) \(perDelta)")
            exit(0)
        }
    }

    /// Limit raised while a call is queued, then a call with a deadline is
    /// submitted: the new thread takes the older call (FIFO) and the new
    /// call sits in the queue with no timer filed, so its deadline is never
    /// honoured.
    @Test func queuedDeadlineIgnoredAfterLimitRaised() async {
        await #expect(processExitsWith: .success) {
            alarm(30)
            BlockingPool.maximumThreads = 1
            let (r0, w0) = try pipePair()
            let holder = Task { _ = try? await r0.read(upToCount: 1, deadline: .never) }
            while BlockingPool.threadCount < 1 || BlockingPool.queuedCount > 0 { try await Task.sleep(for: .milliseconds(5)) }
            let (rx, wx) = try pipePair()
            let x = Task { _ = try? await rx.read(upToCount: 1, deadline: .never) } // queued, then blocks when it runs
            while BlockingPool.queuedCount < 1 { try await Task.sleep(for: .milliseconds(5)) }
            BlockingPool.maximumThreads = 2
            let d = Deadline.after(.milliseconds(300))
            let ran = Flag()
            let a = Task { await outcome { try await BlockingPool.run(deadline: d) { ran.value.store(1, ordering: .relaxed); return 1 } } }
            // Raising the limit made a thread for x; a waits for a thread.
            while BlockingPool.queuedCount < 1 && !d.hasPassed { try await Task.sleep(for: .milliseconds(1)) }
            // Wait up to 4 s past the deadline.
            let end = d + .seconds(4)
            while BlockingPool.queuedCount > 0 && !end.hasPassed { try await Task.sleep(for: .milliseconds(20)) }
            let stillQueued = BlockingPool.queuedCount
            a.cancel()
            let o = await a.value
            rawWrite(w0, [1]); rawWrite(wx, [1])
            await holder.value; await x.value
            if stillQueued != 0 {
                diag("limitRaised: call with deadline still queued 4 s after its deadline (threads \(BlockingPool.threadCount)); outcome after cancel: \(o)")
                exit(141)
            }
            if o != .errno(.timedOut) { diag("limitRaised: \(o)"); exit(142) }
            exit(0)
        }
    }

    /// Cancel and deadline arriving at the same instant for a queued call.
    @Test func queuedCancelAtDeadlineInstant() async {
        await #expect(processExitsWith: .success) {
            alarm(60)
            BlockingPool.maximumThreads = 1
            let (r0, w0) = try pipePair()
            let holder = Task { _ = try? await r0.read(upToCount: 1, deadline: .never) }
            while BlockingPool.threadCount < 1 || BlockingPool.queuedCount > 0 { try await Task.sleep(for: .milliseconds(5)) }
            let ran = Flag()
            var seen = [String: Int]()
            for _ in 0..<300 {
                let d = Deadline.after(.milliseconds(2))
                let t = Task { await outcome { try await BlockingPool.run(deadline: d) { ran.value.store(1, ordering: .relaxed); return 1 } } }
                spin(until: d + .microseconds(Int.random(in: -300...300)))
                t.cancel()
                let o = await t.value
                seen["\(o)", default: 0] += 1
                if o != .cancelled && o != .errno(.timedOut) { diag("cancelAtDeadline: \(o)"); exit(151) }
                if o == .errno(.timedOut) && !d.hasPassed { exit(152) }
            }
            if ran.value.load(ordering: .relaxed) != 0 { exit(153) }
            if BlockingPool.queuedCount != 0 { exit(154) }
            rawWrite(w0, [1]); await holder.value
            diag("queuedCancelAtDeadlineInstant: \(seen)")
            exit(0)
        }
    }

    /// The system refuses threads (absurd stack size): calls wait, obey
    /// cancel and deadline, never run.
    @Test func spawnFailureQueuedCallsObeyDeadlineAndCancel() async {
        await #expect(processExitsWith: .success) {
            alarm(30)
            BlockingPool.threadStackSize = 1 << 46
            let (r, w) = try pipePair()
            rawWrite(w, [1])
            let d = Deadline.after(.milliseconds(200))
            let o = await outcome { try await r.read(upToCount: 1, deadline: d) }
            if o != .errno(.timedOut) || !d.hasPassed || Deadline.now - d > .seconds(1) || bytesWaiting(r) != 1 {
                diag("spawnFailure deadline: \(o) threads \(BlockingPool.threadCount)"); exit(161)
            }
            let t = Task { await outcome { try await r.read(upToCount: 1, deadline: .never) } }
            try await Task.sleep(for: .milliseconds(100))
            t.cancel()
            let c = await t.value
            if c != .cancelled || bytesWaiting(r) != 1 { diag("spawnFailure cancel: \(c)"); exit(162) }
            // Threads possible again: a queued call without deadline left behind?
            let stuck = Task { await outcome { try await r.read(upToCount: 1, deadline: .never) } }
            while BlockingPool.queuedCount < 1 { try await Task.sleep(for: .milliseconds(5)) }
            BlockingPool.threadStackSize = 512 * 1024
            try await Task.sleep(for: .seconds(1))
            let q = BlockingPool.queuedCount
            if q != 0 { diag("spawnFailure: after threads became possible, \(q) call(s) still queued with no thread (pool threads \(BlockingPool.threadCount))") }
            stuck.cancel()
            _ = await stuck.value
            exit(q == 0 ? 0 : 163)
        }
    }

    // MARK: 2. Growth after raising maximumThreads

    /// Calls queued at the limit; the limit is then raised. Doc: "A call
    /// never waits behind an unrelated blocked call: when every pool thread
    /// is busy, the pool makes another, up to maximumThreads".
    @Test func raisingTheLimitServesCallsAlreadyQueued() async {
        await #expect(processExitsWith: .success) {
            alarm(30)
            BlockingPool.maximumThreads = 2
            let holders = try (0..<2).map { _ in try pipePair() }
            let held = holders.map { (r, _) in Task { _ = try? await r.read(upToCount: 1, deadline: .never) } }
            while BlockingPool.threadCount < 2 || BlockingPool.queuedCount > 0 { try await Task.sleep(for: .milliseconds(5)) }
            let (r, w) = try pipePair()
            rawWrite(w, [3])
            let c = Task { await outcome { try await r.read(upToCount: 1, deadline: .after(.seconds(5))) } }
            while BlockingPool.queuedCount < 1 { try await Task.sleep(for: .milliseconds(5)) }
            BlockingPool.maximumThreads = 10
            let start = Deadline.now
            let o = await c.value
            let took = Deadline.now - start
            for (_, hw) in holders { rawWrite(hw, [9]) }
            for t in held { await t.value }
            if o != .value([3]) || took > .seconds(2) { diag("raiseLimit: queued call got \(o) after \(took) with limit raised"); exit(91) }
            exit(0)
        }
    }

    /// Lowering the limit while calls are in flight, then everything finishes
    /// and idle threads retire.
    @Test func loweringTheLimitInFlightThenRetire() async {
        await #expect(processExitsWith: .success) {
            alarm(30)
            BlockingPool.idleTimeout = .milliseconds(300)
            let pipes = try (0..<8).map { _ in try pipePair() }
            let tasks = pipes.map { (r, _) in Task { await outcome { try await r.read(upToCount: 1, deadline: .after(.seconds(10))) } } }
            while BlockingPool.threadCount < 8 { try await Task.sleep(for: .milliseconds(5)) }
            BlockingPool.maximumThreads = 2
            let (r, w) = try pipePair()
            rawWrite(w, [4])
            let d = Deadline.after(.milliseconds(300))
            let q = Task { await outcome { try await r.read(upToCount: 1, deadline: d) } }
            let o = await q.value
            if o != .errno(.timedOut) || !d.hasPassed || bytesWaiting(r) != 1 { diag("lower: \(o)"); exit(101) }
            for (i, (_, pw)) in pipes.enumerated() { rawWrite(pw, [UInt8(i)]) }
            for (i, t) in tasks.enumerated() where await t.value != .value([UInt8(i)]) { exit(102) }
            let end = Deadline.after(.seconds(5))
            while BlockingPool.threadCount > 0 && !end.hasPassed { try await Task.sleep(for: .milliseconds(20)) }
            if BlockingPool.threadCount != 0 { diag("lower: \(BlockingPool.threadCount) threads left"); exit(103) }
            exit(0)
        }
    }

    // MARK: 3. Looping helpers: exact counts when cancelled

    @Test func cancelledWriteAllCountIsExact() async throws {
        for round in 0..<15 {
            let (r, w) = try pipePair()
            defer { try? r.close(); try? w.close() }
            let payload = [UInt8](repeating: 1, count: 400_000)
            let task = Task { await outcome { try await w.writeAll(payload, deadline: .never) } }
            // Drain for a random while, then cancel.
            var drained = 0
            _ = fcntl(r.rawValue, F_SETFL, O_NONBLOCK)
            var sink = [UInt8](repeating: 0, count: 4096)
            let until = Deadline.after(.microseconds(Int.random(in: 0...20_000)))
            while !until.hasPassed {
                let n = sink.withUnsafeMutableBytes { Glibc.read(r.rawValue, $0.baseAddress, $0.count) }
                if n > 0 { drained += n }
            }
            task.cancel()
            let o = await task.value
            while true {
                let n = sink.withUnsafeMutableBytes { Glibc.read(r.rawValue, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                drained += n
            }
            switch o {
            case .incomplete(let t):
                #expect(t.errno == .canceled)
                #expect(t.bytesTransferred == drained, "round \(round)")
            case .value(let n):
                #expect(n == payload.count && drained == n)
            default: Issue.record("round \(round): \(o)")
            }
        }
    }

    @Test func cancelledReadExactlyCountIsExact() async throws {
        for round in 0..<15 {
            let (r, w) = try pipePair()
            defer { try? r.close(); try? w.close() }
            let task = Task { await outcome { try await r.read(exactly: 1_000_000, deadline: .never) } }
            var written = 0
            let until = Deadline.after(.microseconds(Int.random(in: 0...20_000)))
            _ = fcntl(w.rawValue, F_SETFL, O_NONBLOCK)
            // Stop short of the full count: the read must still be in flight.
            while !until.hasPassed && written < 900_000 {
                let n = rawWrite(w, [UInt8](repeating: 2, count: 512))
                if n > 0 { written += n }
            }
            task.cancel()
            let o = await task.value
            guard case .incomplete(let t) = o else { Issue.record("round \(round): \(o)"); continue }
            #expect(t.errno == .canceled)
            #expect(t.bytesTransferred + bytesWaiting(r) == written, "round \(round)")
        }
    }

    // MARK: 4. Never timedOut early (running and queued)

    @Test func runningDeadlinesNeverEarly() async throws {
        let pipes = try (0..<40).map { _ in try pipePair() }
        defer { for (r, w) in pipes { try? r.close(); try? w.close() } }
        let early = await withTaskGroup(of: Int.self) { group -> Int in
            for (i, (r, _)) in pipes.enumerated() {
                group.addTask {
                    var early = 0
                    for j in 0..<10 {
                        let d = Deadline.after(.microseconds(500 + 997 * ((i * 10 + j) % 20)))
                        let o = await outcome { try await r.read(upToCount: 1, deadline: d) }
                        if o != .errno(.timedOut) || !d.hasPassed { early += 1 }
                    }
                    return early
                }
            }
            return await group.reduce(0, +)
        }
        #expect(early == 0)
    }

    @Test func nestedScopesKeepEarlierAndQueuedCallsObeyThem() async {
        await #expect(processExitsWith: .success) {
            alarm(30)
            BlockingPool.maximumThreads = 1
            let (r0, w0) = try pipePair()
            let blocker = await startHolder { try r0.read(upToCount: 1, deadline: .after(.seconds(5))) }
            let outer = Deadline.after(.milliseconds(300))
            let ran = Flag()
            let o: Outcome<Int> = await InterruptIO.withDeadline(outer) {
                await InterruptIO.withDeadline(.after(.seconds(20))) {
                    if InterruptIO.currentTaskDeadline != outer { exit(111) }
                    return await outcome { try await BlockingPool.run(deadline: .after(.seconds(30))) { ran.value.store(1, ordering: .relaxed); return 1 } }
                }
            }
            if o != .errno(.timedOut) || !outer.hasPassed || Deadline.now - outer > .seconds(1) || ran.value.load(ordering: .relaxed) == 1 {
                diag("nested: \(o)"); exit(112)
            }
            rawWrite(w0, [1])
            _ = try await blocker.value
            exit(0)
        }
    }

    // MARK: 5 & misc. Errors, explicit cancels, already-cancelled Tasks, zero-length

    @Test func operationErrorsPassThrough() async {
        struct Mine: Error, Equatable {}
        #expect(await outcome { try await BlockingPool.run { () throws(Mine) -> Int in throw Mine() } } == .other("Mine()"))
        #expect(await outcome { try await BlockingPool.run { () throws(Errno) -> Int in throw Errno.canceled } } == .errno(.canceled))
        #expect(await outcome { try await BlockingPool.run { () throws(Errno) -> Int in throw Errno.timedOut } } == .errno(.timedOut))
        // A result returned though the Task was cancelled while running.
        let started = Flag()
        let t = Task { await outcome { try await BlockingPool.run { () -> Int in
            started.value.store(1, ordering: .relaxed)
            spin(until: .after(.milliseconds(200)))
            return 42
        } } }
        while started.value.load(ordering: .relaxed) == 0 { await Task.yield() }
        t.cancel()
        #expect(await t.value == .value(42))
    }

    @Test func explicitGroupCancelWhileTaskAlsoCancelled() async throws {
        // Explicit group cancel, Task never cancelled, repeated: always Errno.canceled; next call clean.
        let (r, w) = try pipePair()
        defer { try? r.close(); try? w.close() }
        for _ in 0..<30 {
            let group = CancellationGroup()
            let task = Task {
                await outcome {
                    try await BlockingPool.run {
                        try group.withMembership { () throws(Errno) in try r.read(upToCount: 4, deadline: .never) }
                    }
                }
            }
            spin(until: .after(.microseconds(Int.random(in: 0...3000))))
            _ = group.cancel()
            #expect(await task.value == .errno(.canceled))
            rawWrite(w, [1])
            #expect(await outcome { try await r.read(upToCount: 1, deadline: .after(.seconds(5))) } == .value([1]))
        }
    }

    @Test func alreadyCancelledTaskNeverRunsAnyForm() async throws {
        let (r, w) = try pipePair()
        defer { try? r.close(); try? w.close() }
        rawWrite(w, [1, 2, 3])
        let ran = Flag()
        let results = await Task { () -> [String] in
            withUnsafeCurrentTask { $0?.cancel() }
            var out: [String] = []
            out.append("\(await outcome { try await r.read(upToCount: 1, deadline: .never) })")
            out.append("\(await outcome { try await r.read(exactly: 1, deadline: .never) })")
            out.append("\(await outcome { try await r.read(exactly: 0, deadline: .never) })")
            out.append("\(await outcome { try await w.writeAll([UInt8](), deadline: .never) })")
            out.append("\(await outcome { try await BlockingPool.run { ran.value.store(1, ordering: .relaxed); return 0 } })")
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 0, alignment: 1)
            defer { buf.deallocate() }
            out.append("\(await outcome { try await r.read(into: buf, deadline: .never) })")
            return out
        }.value
        #expect(bytesWaiting(r) == 3)
        #expect(ran.value.load(ordering: .relaxed) == 0)
        #expect(results[0] == "cancelled")
        #expect(results[4] == "cancelled")
        diag("alreadyCancelled forms: \(results)")
    }

    @Test func zeroLengthCallsComplete() async throws {
        let (r, w) = try pipePair()
        defer { try? r.close(); try? w.close() }
        #expect(try await r.read(exactly: 0, deadline: .after(.seconds(1))) == [])
        #expect(try await r.read(upToCount: 0, deadline: .after(.seconds(1))) == [])
        #expect(try await w.writeAll([UInt8](), deadline: .after(.seconds(1))) == 0)
        #expect(try await w.write([UInt8](), deadline: .after(.seconds(1))) == 0)
        // Zero-length with a deadline already passed.
        let past = Deadline.now
        let o = await outcome { try await r.read(exactly: 0, deadline: past) }
        diag("zero-length read(exactly:0) with past deadline: \(o)")
    }

    // MARK: DeadlineDescriptor: its deadline changes must not reach a later unrelated call on the same thread

    @Test func deadlineDescriptorChangeDoesNotReachLaterCallOnSameThread() async {
        await #expect(processExitsWith: .success) {
            alarm(30)
            BlockingPool.maximumThreads = 1
            let (r1, w1) = try pipePair()
            let (r2, w2) = try pipePair()
            let dd = try! DeadlineDescriptor(r1.duplicate())
            dd.setReadDeadline(.after(.seconds(10)))
            rawWrite(w1, [1])
            let b = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
            let n = try await dd.read(into: b)
            if n != 1 { exit(121) }
            // Also a timed-out one.
            dd.setReadDeadline(.after(.milliseconds(30)))
            let t = await outcome { try await dd.read(into: b) }
            if t != .errno(.timedOut) { diag("dd: \(t)"); exit(122) }
            dd.setReadDeadline(.after(.seconds(10)))
            let later = Task { await outcome { try await r2.read(upToCount: 1, deadline: .never) } }
            try await Task.sleep(for: .milliseconds(100))
            dd.setReadDeadline(.now)
            dd.setDeadline(.now)
            try await Task.sleep(for: .milliseconds(300))
            rawWrite(w2, [2])
            let o = await later.value
            if o != .value([2]) { diag("dd: unrelated later call got \(o)"); exit(123) }
            exit(0)
        }
    }

    // MARK: Soak: many short calls mixing cancels and deadlines; uncancelled calls must never fail

    @Test func soakManyShortCallsNoSpuriousCancelOrTimeout() async {
        await #expect(processExitsWith: .success) {
            alarm(90)
            BlockingPool.maximumThreads = 3
            let (r, w) = try pipePair()
            let (cr, cw) = try pipePair()
            var bad = 0
            var counts = [String: Int]()
            for i in 0..<1500 {
                // A victim: cancelled or deadline-bounded blocking read on an empty pipe.
                let kind = i % 3
                let victim = Task { () -> Outcome<[UInt8]> in
                    switch kind {
                    case 0: return await outcome { try await cr.read(upToCount: 1, deadline: .never) }
                    case 1: return await outcome { try await cr.read(upToCount: 1, deadline: .after(.microseconds(Int.random(in: 0...800)))) }
                    default: return await InterruptIO.withDeadline(.after(.microseconds(Int.random(in: 0...800)))) {
                        await outcome { try await cr.read(upToCount: 1, deadline: .never) }
                    }
                    }
                }
                if kind == 0 { spin(until: .after(.microseconds(Int.random(in: 0...500)))); victim.cancel() }
                // Innocent calls meanwhile and after.
                rawWrite(w, [UInt8(i & 0xff)])
                let o = await outcome { try await r.read(upToCount: 1, deadline: .after(.seconds(10))) }
                if o != .value([UInt8(i & 0xff)]) { bad += 1; diag("soak \(i): innocent got \(o)") }
                let v = await victim.value
                counts["\(v)", default: 0] += 1
                if case .value = v { diag("soak \(i): victim read data?!") }
                rawWrite(w, [1])
                let o2 = await outcome { try await BlockingPool.run { () throws(Errno) -> [UInt8] in try r.read(upToCount: 1, deadline: .never) } }
                if o2 != .value([1]) { bad += 1; diag("soak \(i): innocent run got \(o2)") }
            }
            diag("soak counts \(counts) bad \(bad)")
            exit(bad == 0 ? 0 : 131)
        }
    }
}

/// A plain pthread for helpers that must not block the cooperative pool.
final class Thread2: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) {
        self.body = body
        let box = Unmanaged.passRetained(self)
        pthread_create(&thread, nil, { arg in
            let me = Unmanaged<Thread2>.fromOpaque(arg!).takeRetainedValue()
            me.body()
            return nil
        }, box.toOpaque())
    }
    func join() { pthread_join(thread, nil) }
}
