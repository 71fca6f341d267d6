import CInterruptIO
import InterruptIO
import Synchronization
import SystemPackage
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct Attack {
    /// Doc: withMembership "Runs `body` with the calling thread a member of
    /// the group. If the group is cancelled (now or while `body` runs),
    /// interruptible calls in `body` throw `Errno.canceled`."
    /// Nesting withMembership of the same group: the inner scope's leave
    /// must not take away the outer scope's membership.
    @Test func nestedMembershipOfTheSameGroupKeepsTheOuterMembership() throws {
        let group = CancellationGroup()
        let (r, w) = try pipePair()
        defer { try? r.close(); try? w.close() }
        let result: IOResult = group.withMembership {
            group.withMembership { }
            group.cancel()
            // The outer scope is still running: the call must be cancelled.
            return readResult(r, deadline: .after(.milliseconds(300)))
        }
        #expect(result == .failure(.canceled))
    }

    /// With the thread already in 255 other groups the 256th
    /// withMembership cannot join (-EMLINK); it used to run `body` silently
    /// outside the group, so cancelling the group did not cancel the body.
    /// Now it traps (a programming error), never running `body` unguarded.
    @Test func membershipBeyond255GroupsTraps() async {
        await #expect(processExitsWith: .failure) {
            let groups = (0..<256).map { _ in CancellationGroup() }
            func nest(_ i: Int) {
                if i == groups.count - 1 {
                    groups[i].withMembership { print("body ran outside the group") }
                    exit(0) // reached only if the join failure was ignored
                }
                groups[i].withMembership { nest(i + 1) }
            }
            nest(0)
        }
    }

    /// Doc (AsyncIO): "Cancelling the awaiting Task makes the call throw
    /// `CancellationError` promptly, wherever it is". Cancels aimed at random
    /// instants around submission; a lost one leaves the task blocked.
    /// Tasks never cancelled, sharing the pool, must never see `.canceled`.
    /// Not under ThreadSanitizer: its 3 s bound per round does not hold at
    /// TSan's speed on 2 cores (one round in 400 ran past it there). The
    /// pool's queued/running windows were examined for issue 10: every state
    /// change is under one lock, and the outside attack's soak tests
    /// (cancels and deadlines at random instants) run under TSan and pass.
    @Test(.disabled(if: runningUnderThreadSanitizer, "timing bound too tight at TSan's speed"))
    func asyncTaskCancelAtRandomMomentsIsNeverLostNorLeaks() async throws {
        let (r, w) = try pipePair()
        defer { try? r.close(); try? w.close() }
        let (r2, w2) = try pipePair()
        defer { try? r2.close(); try? w2.close() }
        var lost = 0, spurious = 0
        for i in 0..<400 {
            let victim = Task { await outcome { try await r.read(upToCount: 16, deadline: .never).count } }
            // A bystander on the pool that must never be cancelled.
            let bystander = Task { await outcome { try await r2.read(upToCount: 1, deadline: .after(.seconds(5))).count } }
            // Half the cancels land around submission, half once the call
            // is likely blocked in the kernel.
            if i % 2 == 0 {
                let spin = Int.random(in: 0..<3000)
                var x = 0
                for k in 0..<spin { x &+= k }
                if x == -1 { print(x) }
            } else {
                // Task.sleep, not usleep: a blocked cooperative thread
                // starves other suites' async tests on 2 cores.
                try? await Task.sleep(for: .microseconds(Int64.random(in: 20...800)))
            }
            victim.cancel()
            _ = try [UInt8(1)].withUnsafeBytes { try w2.write($0) }
            // Bounded wait for the victim.
            let watchdog = Task {
                try await Task.sleep(for: .seconds(3))
                _ = try? [UInt8(0)].withUnsafeBytes { try w.write($0) }
            }
            let v = await victim.value
            watchdog.cancel()
            if v != .cancelled { lost += 1; break }
            let b = await bystander.value
            if b != .value(1) { spurious += 1 }
        }
        #expect(lost == 0)
        #expect(spurious == 0)
    }

    /// Doc (DeadlineDescriptor): a deadline "applies to the call in flight
    /// and to every later call until it is changed, from any thread at any
    /// time ... so a change is never missed". Several setters race; the
    /// last setter to finish stores a passed deadline: the blocked read must
    /// end with timedOut.
    @Test func racingDescriptorSettersLastPassedDeadlineAlwaysEndsTheRead() throws {
        for _ in 0..<60 {
            let (r, w) = try pipePair()
            defer { try? r.close(); try? w.close() }
            let dd = try! DeadlineDescriptor(r.duplicate())
            let reader = TestThread<IOResult> {
                var b = [UInt8](repeating: 0, count: 8)
                return b.withUnsafeMutableBytes { p in
                    do throws(Errno) { return .success(try dd.read(into: p)) } catch { return .failure(error) }
                }
            }
            let go = Atomic<Bool>(false)
            let setters = (0..<3).map { s in
                TestThread<Int> {
                    while !go.load(ordering: .acquiring) {}
                    for k in 0..<300 {
                        switch (k + s) % 3 {
                        case 0: dd.setReadDeadline(.after(.seconds(30)))
                        case 1: dd.setReadDeadline(.never)
                        default: dd.setDeadline(.after(.microseconds(Int64.random(in: 0...50))))
                        }
                    }
                    return 0
                }
            }
            go.store(true, ordering: .releasing)
            for s in setters { _ = s.join(within: .seconds(10)) }
            dd.setReadDeadline(.now)
            let result = reader.join(within: .seconds(2))
            if result == nil { _ = try [UInt8(0)].withUnsafeBytes { try w.write($0) }; _ = reader.join() }
            #expect(result == .failure(.timedOut), "got \(String(describing: result))")
            if result != .failure(.timedOut) { break }
        }
    }
}
