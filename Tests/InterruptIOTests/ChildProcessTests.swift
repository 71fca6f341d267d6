import InterruptIO
import SystemPackage
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Starts `/bin/sh -c script` as a child, with no signal blocked or ignored
/// (the test runner's threads block or ignore some); its pid.
func spawnShell(_ script: String) -> pid_t {
    var pid: pid_t = 0
    let args = ["/bin/sh", "-c", script]
    var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t(), all = sigset_t()
    sigemptyset(&none)
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setsigdefault(&attributes, &all)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    let rc = posix_spawn(&pid, "/bin/sh", nil, &attributes, &argv, nil)
    precondition(rc == 0, "posix_spawn: \(rc)")
    return pid
}

@Suite(.serialized) struct ChildProcessWait {
    @Test func exitStatusAndSignalAreReported() throws {
        #expect(try ChildProcess.waitForExit(spawnShell("exit 3"), deadline: .after(.seconds(5))) == .exited(3))
        let sleeper = spawnShell("exec sleep 30")
        usleep(50_000)
        kill(sleeper, SIGTERM)
        #expect(try ChildProcess.waitForExit(sleeper, deadline: .after(.seconds(5))) == .signaled(SIGTERM))
    }

    @Test func deadlineEndsTheWaitAndTheChildCanStillBeReaped() throws {
        let sleeper = spawnShell("exec sleep 30")
        let deadline = Deadline.after(.milliseconds(100))
        #expect(throws: Errno.timedOut) { _ = try ChildProcess.waitForExit(sleeper, deadline: deadline) }
        #expect(Deadline.now >= deadline)
        #expect(Deadline.now - deadline < .seconds(1))
        kill(sleeper, SIGKILL)
        #expect(try ChildProcess.waitForExit(sleeper, deadline: .after(.seconds(5))) == .signaled(SIGKILL))
    }

    @Test func cancelFromAnotherThreadEndsTheWait() throws {
        let sleeper = spawnShell("exec sleep 30")
        defer { kill(sleeper, SIGKILL); _ = try? ChildProcess.waitForExit(sleeper, deadline: .after(.seconds(5))) }
        let waiter = TestThread { () -> Errno? in
            do throws(Errno) { _ = try ChildProcess.waitForExit(sleeper, deadline: .never); return nil } catch { return error }
        }
        usleep(30_000)
        #expect(waiter.cancelUntilDone(limit: .seconds(2)) == .some(.canceled))
    }

    @Test func notAChildIsRefused() {
        #expect(throws: Errno.noChildProcess) { _ = try ChildProcess.waitForExit(1, deadline: .after(.seconds(1))) }
    }

    @Test func asyncWaitIsCancelledWithItsTask() async throws {
        let sleeper = spawnShell("exec sleep 30")
        let waiting = Task { try await ChildProcess.waitForExit(sleeper, deadline: .never) }
        try await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        await #expect(throws: CancellationError.self) { _ = try await waiting.value }
        kill(sleeper, SIGKILL)
        #expect(try await ChildProcess.waitForExit(sleeper, deadline: .after(.seconds(5))) == .signaled(SIGKILL))
    }
}
