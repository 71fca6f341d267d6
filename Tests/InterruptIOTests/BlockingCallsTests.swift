import CInterruptIO
import Foundation
import InterruptIO
import SystemPackage
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A scratch file, opened twice: two open file descriptions, so a lock
/// through one conflicts with a lock through the other in one process.
private func twoOpenings() throws -> (FileDescriptor, FileDescriptor, String) {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("iio-lock-\(UUID().uuidString)").path
    let first = try FileDescriptor.open(path, .readWrite, options: [.create], permissions: .ownerReadWrite)
    let second = try FileDescriptor.open(path, .readWrite)
    return (first, second, path)
}

#if arch(x86_64)
private let readSystemCall: CLong = 0
#else
private let readSystemCall: CLong = 63 // aarch64, riscv64: the generic table
#endif

@Suite(.serialized) struct BlockingCallForms {
    @Test func fileLockWaitsThenTimesOutOrIsCancelledAndCanStillBeTaken() throws {
        let (holder, waiter, path) = try twoOpenings()
        defer { try? holder.close(); try? waiter.close(); unlink(path) }
        try holder.lock(.exclusive, deadline: .never)
        let deadline = Deadline.after(.milliseconds(100))
        #expect(throws: Errno.timedOut) { try waiter.lock(.shared, deadline: deadline) }
        #expect(Deadline.now >= deadline && Deadline.now - deadline < .seconds(1))
        let blocked = TestThread { () -> Errno? in
            do throws(Errno) { try waiter.lock(.exclusive, deadline: .never); return nil } catch { return error }
        }
        usleep(50_000)
        #expect(!blocked.isFinished)
        #expect(blocked.cancelUntilDone(limit: .seconds(2)) == .some(.canceled))
        // Interrupted, it took nothing: the holder still holds it, and once
        // released the waiter gets it.
        #expect(throws: Errno.timedOut) { try waiter.lock(.exclusive, deadline: .after(.milliseconds(20))) }
        try holder.unlock()
        try waiter.lock(.exclusive, deadline: .after(.seconds(2)))
        try waiter.unlock()
    }

    @Test func rangeLockConflictsOnlyWhereRangesMeet() throws {
        let (holder, waiter, path) = try twoOpenings()
        defer { try? holder.close(); try? waiter.close(); unlink(path) }
        try holder.lockRange(.exclusive, start: 0, length: 100, deadline: .never)
        try waiter.lockRange(.exclusive, start: 100, length: 100, deadline: .after(.seconds(1)))
        #expect(throws: Errno.timedOut) {
            try waiter.lockRange(.shared, start: 50, length: 10, deadline: .after(.milliseconds(50)))
        }
        try holder.unlockRange(start: 0, length: 100)
        try waiter.lockRange(.shared, start: 50, length: 10, deadline: .after(.seconds(1)))
    }

    @Test func spliceIsCancelledThenMovesEveryByte() throws {
        let (sourceRead, sourceWrite) = try pipePair()
        let (sinkRead, sinkWrite) = try pipePair()
        defer { [sourceRead, sourceWrite, sinkRead, sinkWrite].forEach { try? $0.close() } }
        let mover = TestThread { () -> Errno? in
            do throws(Errno) { _ = try sourceRead.splice(to: sinkWrite, count: 4096, deadline: .never); return nil } catch { return error }
        }
        usleep(30_000)
        #expect(mover.cancelUntilDone(limit: .seconds(2)) == .some(.canceled))
        #expect(throws: Errno.timedOut) { _ = try sourceRead.splice(to: sinkWrite, count: 4096, deadline: .after(.milliseconds(30))) }
        #expect(try sourceWrite.write([1, 2, 3, 4, 5], deadline: .never) == 5)
        #expect(try sourceRead.splice(to: sinkWrite, count: 4096, deadline: .after(.seconds(1))) == 5)
        #expect(try sinkRead.read(upToCount: 16, deadline: .after(.seconds(1))) == [1, 2, 3, 4, 5])
    }

    @Test func sleepEndsAtItsEndOrEarlierForACancelOrADeadline() throws {
        let end = Deadline.after(.milliseconds(60))
        try InterruptIO.sleep(until: end)
        #expect(Deadline.now >= end)
        let sleeper = TestThread { () -> Errno? in
            do throws(Errno) { try InterruptIO.sleep(until: .after(.seconds(30))); return nil } catch { return error }
        }
        usleep(50_000)
        #expect(sleeper.cancelUntilDone(limit: .seconds(2)) == .some(.canceled))
        let bounded = TestThread { () -> Errno? in
            do throws(Errno) {
                try InterruptibleThread.current().setDeadline(.after(.milliseconds(80)))
                defer { try? InterruptibleThread.current().setDeadline(.never) }
                try InterruptIO.sleep(until: .after(.seconds(30)))
                return nil
            } catch { return error }
        }
        #expect(bounded.join(within: .seconds(2)) == .some(.timedOut))
    }

    @Test func waitForSignalReturnsItOrNilAtItsOwnTimeout() throws {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGUSR2)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &set, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        let start = Deadline.now
        #expect(try InterruptIO.waitForSignal(in: set, timeout: .milliseconds(50), deadline: .never) == nil)
        #expect(Deadline.now - start >= .milliseconds(50))
        #expect(throws: Errno.timedOut) {
            _ = try InterruptIO.waitForSignal(in: set, timeout: .seconds(5), deadline: .after(.milliseconds(30)))
        }
        pthread_kill(pthread_self(), SIGUSR2)
        #expect(try InterruptIO.waitForSignal(in: set, deadline: .after(.seconds(1))) == SIGUSR2)
        var ours = sigset_t()
        sigemptyset(&ours)
        sigaddset(&ours, iio_signal())
        #expect(throws: Errno.invalidArgument) { _ = try InterruptIO.waitForSignal(in: ours, deadline: .never) }
    }

    @Test func systemCallEscapeHatchIsInterruptible() throws {
        let (reader, writer) = try pipePair()
        defer { try? reader.close(); try? writer.close() }
        var buffer = [UInt8](repeating: 0, count: 8)
        try buffer.withUnsafeMutableBytes { raw in
            let address = CLong(bitPattern: UInt(bitPattern: raw.baseAddress!))
            #expect(throws: Errno.timedOut) {
                _ = try InterruptIO.systemCall(readSystemCall, CLong(reader.rawValue), address, 8, deadline: .after(.milliseconds(30)))
            }
            _ = try writer.write([7, 8, 9], deadline: .never)
            #expect(try InterruptIO.systemCall(readSystemCall, CLong(reader.rawValue), address, 8, deadline: .after(.seconds(1))) == 3)
        }
        #expect(buffer.prefix(3) == [7, 8, 9])
    }

    @Test func asyncFormsRunTheSyncFormsOnThePool() async throws {
        let (holder, waiter, path) = try twoOpenings()
        defer { try? holder.close(); try? waiter.close(); unlink(path) }
        try await holder.lock(.exclusive, deadline: .never)
        await #expect(throws: Errno.timedOut) { try await waiter.lock(.exclusive, deadline: .after(.milliseconds(50))) }
        let task = Task { try await waiter.lockRange(.exclusive, start: 0, length: 0, deadline: .never) }
        try await holder.lockRange(.exclusive, start: 0, length: 0, deadline: .never)
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        let end = Deadline.after(.milliseconds(30))
        try await InterruptIO.sleep(until: end)
        #expect(Deadline.now >= end)
    }
}

@Suite(.serialized) struct Shield {
    @Test func cancelsReachingAShieldedReadAreKeptUntilItEnds() throws {
        let (reader, writer) = try pipePair()
        defer { try? reader.close(); try? writer.close() }
        let shielded = TestThread { () -> ([UInt8]?, Bool, Errno?) in
            let inside = InterruptIO.shielded { () -> [UInt8]? in try? reader.read(upToCount: 16, deadline: .never) }
            let pending = InterruptIO.isCurrentThreadCancelled
            do throws(Errno) { _ = try reader.read(upToCount: 16, deadline: .never); return (inside, pending, nil) } catch {
                return (inside, pending, error)
            }
        }
        usleep(30_000)
        var reached = 0
        for _ in 0..<20 {
            if (try? shielded.handle?.cancel()) == true { reached += 1 }
            usleep(5_000)
        }
        #expect(reached > 0)
        #expect(!shielded.isFinished)
        _ = try writer.write([1, 2, 3], deadline: .never)
        let outcome = shielded.join(within: .seconds(2))
        #expect(outcome?.0 == [1, 2, 3])   // the shielded read went on
        #expect(outcome?.1 == true)        // a cancel was kept
        #expect(outcome?.2 == .canceled)   // and ended the first call after
    }

    /// A Task cancelled while its pool operation sits in a shield: the
    /// operation finishes; the kept cancel does not leak into the next
    /// operations that pool thread runs.
    @Test func aKeptCancelStaysWithItsPoolOperation() async throws {
        let (reader, writer) = try pipePair()
        defer { try? reader.close(); try? writer.close() }
        let task = Task {
            try await BlockingPool.run { () throws(Errno) -> [UInt8] in
                try InterruptIO.shielded { () throws(Errno) in try reader.read(upToCount: 8, deadline: .after(.seconds(5))) }
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()
        try await Task.sleep(for: .milliseconds(50))
        _ = try await writer.write([4, 2], deadline: .never)
        #expect(try await task.value == [4, 2])   // the shielded read finished
        for round in 0..<20 {
            let byte = UInt8(round)
            let echoed = try await BlockingPool.run { () throws(Errno) -> [UInt8] in
                _ = try writer.write([byte], deadline: .after(.seconds(1)))
                return try reader.read(upToCount: 1, deadline: .after(.seconds(1)))
            }
            #expect(echoed == [byte])
        }
    }

    @Test func deadlinesStillEndShieldedCalls() throws {
        let (reader, writer) = try pipePair()
        defer { try? reader.close(); try? writer.close() }
        let deadline = Deadline.after(.milliseconds(80))
        #expect(throws: Errno.timedOut) {
            try InterruptIO.shielded { () throws(Errno) in
                #expect(InterruptIO.isShielded)
                _ = try reader.read(upToCount: 4, deadline: deadline)
            }
        }
        #expect(!InterruptIO.isShielded)
        #expect(Deadline.now >= deadline)
    }
}

@Suite(.serialized) struct FaultInjectionTests {
    /// A user's loop over writeAll and read(filling:), resuming after each
    /// IncompleteTransfer at its count: every injected fault is survived.
    @Test func sequenceStreamSurvivesEveryInjectedFault() throws {
        #expect(throws: Errno.invalidArgument) { try FaultInjection.enable(rate: 2) }
        let (left, right) = socketPair()
        defer { try? left.close(); try? right.close() }
        let words = ProcessInfo.processInfo.environment["INTERRUPTIO_QUICK"] == nil ? 200_000 : 40_000
        try FaultInjection.enable(rate: 0.2, seed: 7)
        defer { FaultInjection.disable() }
        #expect(FaultInjection.isEnabled)
        let writer = TestThread { () -> Int in
            var stops = 0
            let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096 * 4, alignment: 4)
            defer { bytes.deallocate() }
            var next: UInt32 = 0
            while next < UInt32(words) {
                let n = min(4096, UInt32(words) - next)
                for i in 0..<Int(n) { bytes.storeBytes(of: next + UInt32(i), toByteOffset: i * 4, as: UInt32.self) }
                var sent = 0
                while sent < Int(n) * 4 {
                    do throws(IncompleteTransfer) {
                        sent += try left.writeAll(UnsafeRawBufferPointer(rebasing: bytes[sent..<Int(n) * 4]), deadline: .never)
                    } catch {
                        if error.errno == .interrupted { return -1 }
                        sent += error.bytesTransferred
                        stops += 1
                    }
                }
                next += n
            }
            return stops
        }
        let received = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 4)
        defer { received.deallocate() }
        var expected: UInt32 = 0
        var inOrder = true
        while expected < UInt32(words) {
            let want = min(received.count, (words - Int(expected)) * 4)
            var got = 0
            while got < want {
                do throws(IncompleteTransfer) {
                    got += try right.read(filling: UnsafeMutableRawBufferPointer(rebasing: received[got..<want]), deadline: .after(.seconds(10)))
                } catch {
                    #expect(error.errno != .interrupted && error.errno != nil)
                    if error.errno == nil || error.errno == .interrupted { return }
                    got += error.bytesTransferred
                }
            }
            for i in 0..<(want / 4) where received.load(fromByteOffset: i * 4, as: UInt32.self) != expected + UInt32(i) {
                inOrder = false
            }
            expected += UInt32(want / 4)
        }
        let writerStops = writer.join(within: .seconds(30))
        let counts = FaultInjection.counts
        FaultInjection.disable()
        #expect(!FaultInjection.isEnabled)
        #expect(inOrder && expected == UInt32(words))
        #expect((writerStops ?? -1) > 0)
        #expect(counts.shortCounts > 0 && counts.interruptions > 0 && counts.cancellations > 0 && counts.timeouts > 0)
        print("fault injection: \(counts.calls) calls, \(counts.shortCounts) short, \(counts.interruptions) EINTR hidden, "
              + "\(counts.cancellations) canceled, \(counts.timeouts) timed out; the stream arrived intact")
    }
}
