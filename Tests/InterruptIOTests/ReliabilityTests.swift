import CInterruptIO
import InterruptIO
import Synchronization
import SystemPackage
import Testing

#if canImport(Glibc)
import Glibc
#endif

let runningUnderThreadSanitizer = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__tsan_init") != nil

func environmentInt(_ name: String, default value: Int) -> Int {
    guard let raw = getenv(name) else { return value }
    return Int(String(cString: raw)) ?? value
}

@Suite(.serialized) struct Reliability {
    /// Deadlines drawn to land around syscall entry (0 to 20 µs ahead) on
    /// reads and writes carrying a sequence-numbered stream: no hang, no
    /// byte lost, duplicated or reordered. INTERRUPTIO_STRESS_OPS sets the
    /// number of operations per stream (10^5 by default, 10^6 in long mode).
    @Test(arguments: ["socketpair", "pipe"])
    func streamUnderDeadlinesAtSyscallEntry(kind: String) throws {
        let operations = environmentInt("INTERRUPTIO_STRESS_OPS", default: 100_000)
        let (r, w): (FileDescriptor, FileDescriptor) = kind == "pipe" ? try pipePair() : socketPair()
        defer { try? r.close() }   // the writer closes w, exactly once
        // One word per write and reads of up to 7 bytes, many of them
        // splitting a word.
        let words = operations
        struct Counts: Sendable { var completed = 0, timedOut = 0, partial = 0, ok = true }
        let writer = TestThread { () -> Counts in
            var c = Counts()
            var rng = SplitMix(state: 1)
            var next = 0
            var pending = [UInt8]()
            while next < words || !pending.isEmpty {
                if pending.isEmpty {
                    let n = 1
                    for i in 0..<n { withUnsafeBytes(of: UInt32(next + i).littleEndian) { pending.append(contentsOf: $0) } }
                    next += n
                }
                let deadline = Deadline.after(.nanoseconds(Int64(rng.next() % 20_000)))
                switch writeResult(w, pending, deadline: deadline) {
                case .success(let n):
                    c.completed += 1
                    if n < pending.count { c.partial += 1 }
                    pending.removeFirst(n)
                case .failure(.timedOut): c.timedOut += 1
                case .failure: c.ok = false; return c
                }
            }
            try? w.close()
            return c
        }
        let reader = TestThread { () -> Counts in
            var c = Counts()
            var rng = SplitMix(state: 2)
            var expected: UInt32 = 0
            var carry = [UInt8]()
            var buffer = [UInt8](repeating: 0, count: 7)
            while true {
                let deadline = Deadline.after(.nanoseconds(Int64(rng.next() % 20_000)))
                let outcome = buffer.withUnsafeMutableBytes { p -> IOResult in
                    do throws(Errno) { return .success(try r.read(into: p, deadline: deadline)) } catch { return .failure(error) }
                }
                switch outcome {
                case .success(0):
                    c.ok = c.ok && carry.isEmpty && Int(expected) == words
                    return c
                case .success(let n):
                    c.completed += 1
                    carry.append(contentsOf: buffer[..<n])
                    if carry.count % 4 != 0 { c.partial += 1 }
                    let whole = carry.count / 4
                    for i in 0..<whole {
                        let v = UInt32(carry[4 * i]) | UInt32(carry[4 * i + 1]) << 8 | UInt32(carry[4 * i + 2]) << 16 | UInt32(carry[4 * i + 3]) << 24
                        if v != expected { c.ok = false; return c }
                        expected += 1
                    }
                    carry.removeFirst(whole * 4)
                case .failure(.timedOut): c.timedOut += 1
                case .failure: c.ok = false; return c
                }
            }
        }
        let limit = Duration.seconds(Int64(max(120, operations / 1_000)))
        let wrote = writer.join(within: limit)
        let read = reader.join(within: limit)
        #expect(wrote?.ok == true)
        #expect(read?.ok == true)
        if let wrote, let read {
            print("stress \(kind): writes completed \(wrote.completed), timed out \(wrote.timedOut), partial \(wrote.partial); reads completed \(read.completed), timed out \(read.timedOut), ending mid-word \(read.partial)")
            #expect(wrote.completed == operations)
            #expect(read.timedOut + wrote.timedOut > 0)
        }
    }

    /// 1,000 threads, each blocked with its own deadline: all time out,
    /// none early.
    @Test func thousandThreadsEachWithItsOwnDeadline() throws {
        let count = 1_000
        let start = Deadline.now + .milliseconds(300)
        let pipes = try (0..<count).map { _ in try pipePair() }
        defer { for (a, b) in pipes { try? a.close(); try? b.close() } }
        let threads = (0..<count).map { i in
            TestThread { () -> Duration? in
                let deadline = start + .microseconds(Int64(i) * 300)
                // A thread that the machine starts only after its deadline
                // (1,000 thread starts on 2 busy cores) is late through no
                // fault of the library: lateness counts from the later of
                // the deadline and the call's start.
                let began = Deadline.now
                guard readResult(pipes[i].0, deadline: deadline) == .failure(.timedOut) else { return nil }
                return Deadline.now - max(deadline, began)
            }
        }
        var lateness: [Duration] = []
        for t in threads {
            if let late = t.join(within: .seconds(10)) ?? nil { lateness.append(late) }
        }
        #expect(lateness.count == count)
        #expect(lateness.allSatisfy { $0 >= .zero })
        #expect(lateness.allSatisfy { $0 < .seconds(1) })
    }

    /// fork() while other threads are blocked and timers are pending: the
    /// child's own calls can be cancelled and get deadlines (the timer
    /// thread is started again; stale records are retired).
    /// ThreadSanitizer cannot start threads in the child of a multi-threaded
    /// fork, so there this test is reported as skipped.
    @Test(.disabled(if: runningUnderThreadSanitizer, "TSan cannot start threads after a multi-threaded fork"))
    func forkChildGetsDeadlinesAndCancels() throws {
        let (r, w) = try pipePair()
        defer { try? r.close(); try? w.close() }
        let blocked = TestThread { readResult(r, deadline: .after(.seconds(3))) }
        usleep(20_000)
        let child = fork()
        if child == 0 {
            let (cr, cw) = (try? pipePair()) ?? (FileDescriptor(rawValue: -1), FileDescriptor(rawValue: -1))
            let start = Deadline.now
            let outcome = readResult(cr, deadline: .after(.milliseconds(50)))
            let took = Deadline.now - start
            _ = cw
            // The parent's blocked thread does not exist here: its handle
            // must report an exited thread rather than signal anything.
            let stale = (try? blocked.handle?.cancel()) == nil
            _exit(outcome == .failure(.timedOut) && took >= .milliseconds(50) && took < .seconds(2) && stale ? 0 : 1)
        }
        var status: CInt = 0
        waitpid(child, &status, 0)
        #expect(status == 0)
        #expect(blocked.cancelUntilDone() == .failure(.canceled))
    }

    @Test func deadlinesYearsAheadAndLongPast() throws {
        let (r, w) = try pipePair()
        defer { try? r.close(); try? w.close() }
        #expect(writeResult(w, [1], deadline: .never) == .success(1))
        #expect(readResult(r, deadline: .now + .seconds(100 * 365 * 86_400)) == .success(1))
        #expect(readResult(r, deadline: Deadline(uptimeNanoseconds: 1)) == .failure(.timedOut))
        let reader = TestThread { readResult(r, deadline: .now + .seconds(10 * 365 * 86_400)) }
        usleep(20_000)
        #expect(!reader.isFinished)
        #expect(reader.cancelUntilDone() == .failure(.canceled))
    }

    @Test func handlerReplacedAfterInitIsDetected() throws {
        _ = try InterruptibleThread.current()
        let signo = try #require(InterruptIO.signal)
        #expect(InterruptIO.isHandlerIntact)
        var mine = sigaction()
        var saved = sigaction()
        mine.__sigaction_handler.sa_handler = { _ in }
        sigaction(signo, &mine, &saved)
        #expect(!InterruptIO.isHandlerIntact)
        #expect(!InterruptibleThread.isCurrentInterruptible)
        sigaction(signo, &saved, nil)
        #expect(InterruptIO.isHandlerIntact)
    }

    @Test func blockedSignalMaskIsDetected() throws {
        let result = TestThread { () -> (Bool, Bool, Bool) in
            let before = InterruptibleThread.isCurrentInterruptible
            var set = sigset_t(), old = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, InterruptIO.signal ?? 0)
            pthread_sigmask(SIG_BLOCK, &set, &old)
            let blocked = InterruptibleThread.isCurrentInterruptible
            pthread_sigmask(SIG_SETMASK, &old, nil)
            return (before, blocked, InterruptibleThread.isCurrentInterruptible)
        }.join()
        #expect(result?.0 == true)
        #expect(result?.1 == false)
        #expect(result?.2 == true)
    }
}
