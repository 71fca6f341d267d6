import InterruptIO
import Synchronization
import SystemPackage
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized) struct AsyncBridge {
    /// The headline: a task group reading from several quiet pipes,
    /// cancelled as a whole; every read returns promptly and every pipe
    /// still works afterwards.
    @Test func taskGroupOfBlockedReadsCancelledAsAWhole() async throws {
        let pipes = try (0..<6).map { _ in try pipePair() }
        defer { for (r, w) in pipes { try? r.close(); try? w.close() } }
        let started = Deadline.now
        let outcomes = await withTaskGroup(of: Errno?.self) { group -> [Errno?] in
            for (r, _) in pipes {
                group.addTask {
                    do throws(Errno) { _ = try await r.read(upToCount: 8, deadline: .never); return nil } catch { return error }
                }
            }
            try? await Task.sleep(for: .milliseconds(100))
            group.cancelAll()
            var all: [Errno?] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        #expect(outcomes.count == 6)
        #expect(outcomes.allSatisfy { $0 == .canceled })
        #expect(Deadline.now - started < .seconds(3))
        for (r, w) in pipes {
            #expect(writeResult(w, [42], deadline: .never) == .success(1))
            let bytes = try await r.read(upToCount: 1, deadline: .after(.seconds(2)))
            #expect(bytes == [42])
        }
    }

    /// A request-level timeout around several operations: the first two
    /// complete, the third runs into the shared deadline.
    @Test func requestLevelDeadlineAroundSeveralOperations() async throws {
        let (r, w) = try pipePair()
        defer { try? r.close(); try? w.close() }
        #expect(writeResult(w, [1, 2], deadline: .never) == .success(2))
        let deadline = Deadline.after(.milliseconds(150))
        let outcome: Errno? = await InterruptIO.withDeadline(deadline) {
            do throws(Errno) {
                for _ in 0..<3 { _ = try await r.read(upToCount: 1, deadline: .never) }
                return nil
            } catch { return error }
        }
        #expect(outcome == .timedOut)
        #expect(Deadline.now >= deadline)
        #expect(Deadline.now - deadline < .seconds(1))
        #expect(InterruptIO.currentTaskDeadline == .never)
    }

    @Test func taskCancelledBeforeItsCallStartsNeverBlocks() async throws {
        let (r, w) = try pipePair()
        defer { try? r.close(); try? w.close() }
        let task = Task { () -> Errno? in
            withUnsafeCurrentTask { $0?.cancel() }
            do throws(Errno) { _ = try await r.read(upToCount: 1, deadline: .never); return nil } catch { return error }
        }
        #expect(await task.value == .canceled)
    }

    @Test func asyncHelpersCountWhatMoved() async throws {
        let (r, w) = try pipePair()
        defer { try? r.close(); try? w.close() }
        #expect(writeResult(w, [1, 2, 3], deadline: .never) == .success(3))
        var stopped: IncompleteTransfer?
        do throws(IncompleteTransfer) { _ = try await r.read(exactly: 8, deadline: .after(.milliseconds(50))) } catch { stopped = error }
        #expect(stopped == IncompleteTransfer(errno: .timedOut, bytesTransferred: 3))
        let wrote = try await w.writeAll([UInt8](repeating: 9, count: 100), deadline: .after(.seconds(2)))
        #expect(wrote == 100)
        #expect(try await r.read(exactly: 100, deadline: .after(.seconds(2))) == [UInt8](repeating: 9, count: 100))
    }

    @Test func asyncOpenOfAFifoIsCancelledWithItsTask() async throws {
        let path = "/tmp/iio-async-fifo-\(getpid())"
        unlink(path)
        #expect(mkfifo(path, 0o600) == 0)
        defer { unlink(path) }
        let opener = Task { () -> Errno? in
            do throws(Errno) { _ = try await FileDescriptor.open(FilePath(path), .readOnly, deadline: .never); return nil } catch { return error }
        }
        try await Task.sleep(for: .milliseconds(50))
        opener.cancel()
        #expect(await opener.value == .canceled)
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
}
