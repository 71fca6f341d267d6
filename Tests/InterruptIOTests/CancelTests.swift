import CInterruptIO
import InterruptIO
import Synchronization
import SystemPackage
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized) struct Cancellation {
    @Test func blockedPipeReadIsCancelledThenTheSameDescriptorWorks() throws {
        let (r, w) = try pipePair()
        defer { try? r.close(); try? w.close() }
        let reader = TestThread { readResult(r, deadline: .never) }
        usleep(20_000)
        let started = Deadline.now
        let result = reader.cancelUntilDone()
        #expect(Deadline.now - started < .seconds(2))
        #expect(result == .failure(.canceled))
        #expect(writeResult(w, Array("intact".utf8), deadline: .never) == .success(6))
        var buffer = [UInt8](repeating: 0, count: 6)
        let n = try buffer.withUnsafeMutableBytes { try r.read(into: $0, deadline: .never) }
        #expect(n == 6 && buffer == Array("intact".utf8))
    }

    @Test func blockedSocketReceiveIsCancelled() throws {
        let (a, b) = socketPair()
        defer { try? a.close(); try? b.close() }
        let reader = TestThread { () -> IOResult in
            var buffer = [UInt8](repeating: 0, count: 16)
            return buffer.withUnsafeMutableBytes { p in
                do throws(Errno) { return .success(try a.receive(into: p, deadline: .never)) } catch { return .failure(error) }
            }
        }
        usleep(20_000)
        #expect(reader.cancelUntilDone() == .failure(.canceled))
        let sent = try Array("x".utf8).withUnsafeBytes { try b.send($0, deadline: .never) }
        #expect(sent == 1)
        #expect(readResult(a, deadline: .after(.seconds(2))) == .success(1))
    }

    @Test func blockedAcceptIsCancelled() throws {
        let (listener, addr) = tcpListener()
        defer { try? listener.close() }
        let acceptor = TestThread { () -> IOResult in
            do throws(Errno) { return .success(Int(try listener.accept(deadline: .never).rawValue)) } catch { return .failure(error) }
        }
        usleep(20_000)
        #expect(acceptor.cancelUntilDone() == .failure(.canceled))
        let client = try tcpConnect(addr)
        let server = try listener.accept(deadline: .after(.seconds(2)))
        #expect(writeResult(client, [1, 2, 3], deadline: .never) == .success(3))
        #expect(readResult(server, deadline: .after(.seconds(2))) == .success(3))
        try client.close(); try server.close()
    }

    @Test func stickyCancelFailsLaterCallsUntilCleared() throws {
        let (r, w) = try pipePair()
        defer { try? r.close(); try? w.close() }
        #expect(writeResult(w, [9], deadline: .never) == .success(1))
        let me = try InterruptibleThread.current()
        #expect(try me.cancelSticky() == false)
        #expect(readResult(r, deadline: .never) == .failure(.canceled))
        try me.clearCancel()
        #expect(readResult(r, deadline: .never) == .success(1))
    }

    @Test func exitedThreadGivesNoSuchProcess() throws {
        let t = TestThread { 1 }
        #expect(t.join() == 1)
        let handle = try #require(t.handle)
        #expect(throws: Errno.noSuchProcess) { try handle.cancel() }
        #expect(throws: Errno.noSuchProcess) { try handle.setDeadline(.now) }
    }

    @Test func badDescriptorAndNullBuffer() throws {
        #expect(readResult(FileDescriptor(rawValue: -1), deadline: .never) == .failure(.badFileDescriptor))
        let (r, w) = try pipePair()
        defer { try? r.close(); try? w.close() }
        #expect(writeResult(w, [1], deadline: .never) == .success(1))
        // Swift cannot make a nil buffer with a count; an unmapped address
        // reaches the kernel the same way (the C tests pass NULL itself).
        let bad = UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(bitPattern: 16), count: 8)
        #expect(throws: Errno.badAddress) { try r.read(into: bad, deadline: .never) }
        #expect(readResult(r, deadline: .never) == .success(1))
    }

    @Test func badSignalNumbersAreRefused() {
        #expect(throws: Errno.invalidArgument) { try InterruptIO.initialize(signal: SIGSEGV) }
        #expect(throws: Errno.invalidArgument) { try InterruptIO.initialize(signal: 32) }
        #expect(throws: Errno.invalidArgument) { try InterruptIO.initialize(signal: 9999) }
    }

    @Test func swiftConcurrencyThreadBecomesInterruptible() async throws {
        // Cooperative threads start with every real-time signal blocked.
        let ok = await Task.detached { () -> Bool in
            _ = try? InterruptibleThread.current()
            return InterruptibleThread.isCurrentInterruptible
        }.value
        #expect(ok)
        #expect(InterruptIO.isHandlerIntact)
        #expect(InterruptIO.signal != nil)
    }

    @Test func bothEntryModesCancelARead() throws {
        guard InterruptIO.isPCWindowAvailable else {
            // ThreadSanitizer builds have only the portable entry.
            #expect(throws: Errno.notSupported) { try InterruptIO.setEntryMode(.pcWindow) }
            #expect(InterruptIO.entryMode == .portable)
            return
        }
        for mode in [InterruptIO.EntryMode.portable, .pcWindow] {
            try InterruptIO.setEntryMode(mode)
            let (r, w) = try pipePair()
            let reader = TestThread { readResult(r, deadline: .never) }
            usleep(10_000)
            #expect(reader.cancelUntilDone() == .failure(.canceled))
            try r.close(); try w.close()
        }
        #expect(InterruptIO.entryMode == .pcWindow)
    }
}
