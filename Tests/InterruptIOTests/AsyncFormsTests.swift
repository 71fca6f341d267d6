import CInterruptIO
import InterruptIO
import SystemPackage
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A scratch buffer for one async call.
func withScratch<R>(_ count: Int, _ body: (UnsafeMutableRawBufferPointer) async throws -> R) async rethrows -> R {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 16)
    defer { buffer.deallocate() }
    return try await body(buffer)
}

/// Lets a test hand a pointer to a Task it awaits.
struct Unchecked<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// A heap sockaddr_in seen as the sockaddr C calls take.
func heapAddress(_ value: sockaddr_in = sockaddr_in()) -> UnsafeMutablePointer<sockaddr_in> {
    let p = UnsafeMutablePointer<sockaddr_in>.allocate(capacity: 1)
    p.initialize(to: value)
    return p
}
func asSockaddr(_ p: UnsafeMutablePointer<sockaddr_in>) -> UnsafeMutablePointer<sockaddr> {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: sockaddr.self)
}

/// One behavioural test per async form: each is its sync twin run on the
/// pool, so each must move real bytes and report the sync form's errors.
@Suite struct AsyncForms {
    @Test func positionalReadAndWrite() async throws {
        let path = "/tmp/iio-async-forms-\(getpid())"
        defer { unlink(path) }
        let fd = try await FileDescriptor.open(FilePath(path), .readWrite, options: [.create, .truncate, .closeOnExec],
                                               permissions: [.ownerReadWrite], deadline: .after(.seconds(2)))
        defer { try? fd.close() }
        try await withScratch(5) { b async throws in
            b.copyBytes(from: Array("hello".utf8))
            #expect(try await fd.write(toAbsoluteOffset: 10, UnsafeRawBufferPointer(b), deadline: .never) == 5)
            b.initializeMemory(as: UInt8.self, repeating: 0)
            #expect(try await fd.read(fromAbsoluteOffset: 10, into: b, deadline: .never) == 5)
            #expect(Array(b) == Array("hello".utf8))
        }
    }

    @Test func vectoredReadAndWrite() async throws {
        let (r, w) = try pipePair()
        defer { try? r.close(); try? w.close() }
        try await withScratch(6) { b async throws in
            b.copyBytes(from: [1, 2, 3, 4, 5, 6])
            let parts = [UnsafeRawBufferPointer(rebasing: b[0..<2]), UnsafeRawBufferPointer(rebasing: b[2..<6])]
            #expect(try await w.write(buffers: parts, deadline: .after(.seconds(2))) == 6)
        }
        try await withScratch(6) { b async throws in
            let parts = [UnsafeMutableRawBufferPointer(rebasing: b[0..<4]), UnsafeMutableRawBufferPointer(rebasing: b[4..<6])]
            #expect(try await r.read(intoBuffers: parts, deadline: .after(.seconds(2))) == 6)
            #expect(Array(b) == [1, 2, 3, 4, 5, 6])
        }
        // Blocked, it is cancelled with its Task.
        let task = Task {
            await outcome {
                try await withScratch(4) { b in try await r.read(intoBuffers: [b], deadline: .never) }
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()
        #expect(await task.value == .cancelled)
    }

    @Test func receiveAndSend() async throws {
        let (a, b) = socketPair()
        defer { try? a.close(); try? b.close() }
        try await withScratch(3) { buf async throws in
            buf.copyBytes(from: [7, 8, 9])
            #expect(try await a.send(UnsafeRawBufferPointer(buf), deadline: .after(.seconds(2))) == 3)
            buf.initializeMemory(as: UInt8.self, repeating: 0)
            #expect(try await b.receive(into: buf, deadline: .after(.seconds(2))) == 3)
            #expect(Array(buf) == [7, 8, 9])
            #expect(await outcome { try await b.receive(into: buf, deadline: .after(.milliseconds(30))) } == .errno(.timedOut))
        }
    }

    @Test func receiveFromAndSendTo() async throws {
        let rx = socket(AF_INET, CInt(SOCK_DGRAM.rawValue), 0), tx = socket(AF_INET, CInt(SOCK_DGRAM.rawValue), 0)
        defer { close(rx); close(tx) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { s in
                _ = bind(rx, s, len)
                _ = getsockname(rx, s, &len)
            }
        }
        let receiver = FileDescriptor(rawValue: rx), sender = FileDescriptor(rawValue: tx)
        let target = addr
        try await withScratch(4) { buf async throws in
            buf.copyBytes(from: [4, 3, 2, 1])
            let to = heapAddress(target)
            defer { to.deallocate() }
            let sent = try await sender.send(UnsafeRawBufferPointer(buf), to: asSockaddr(to), addressLength: len, deadline: .after(.seconds(2)))
            #expect(sent == 4)
            buf.initializeMemory(as: UInt8.self, repeating: 0)
            let from = heapAddress()
            defer { from.deallocate() }
            let fromLength = UnsafeMutablePointer<socklen_t>.allocate(capacity: 1)
            defer { fromLength.deallocate() }
            fromLength.pointee = socklen_t(MemoryLayout<sockaddr_in>.size)
            let got = try await receiver.receive(into: buf, sender: asSockaddr(from), senderLength: fromLength, deadline: .after(.seconds(2)))
            #expect(got == 4)
            #expect(Array(buf) == [4, 3, 2, 1])
            #expect(from.pointee.sin_family == sa_family_t(AF_INET))
            #expect(from.pointee.sin_addr.s_addr == inet_addr("127.0.0.1"))
        }
    }

    @Test func receiveAndSendMessages() async throws {
        let (a, b) = socketPair()
        defer { try? a.close(); try? b.close() }
        try await withScratch(2) { buf async throws in
            buf.copyBytes(from: [5, 6])
            let vector = UnsafeMutablePointer<iovec>.allocate(capacity: 1)
            defer { vector.deallocate() }
            vector.initialize(to: iovec(iov_base: buf.baseAddress, iov_len: 2))
            let message = UnsafeMutablePointer<msghdr>.allocate(capacity: 1)
            defer { message.deallocate() }
            message.initialize(to: msghdr())
            message.pointee.msg_iov = vector
            message.pointee.msg_iovlen = 1
            #expect(try await a.sendMessage(message, deadline: .after(.seconds(2))) == 2)
            buf.initializeMemory(as: UInt8.self, repeating: 0)
            #expect(try await b.receiveMessage(message, deadline: .after(.seconds(2))) == 2)
            #expect(Array(buf) == [5, 6])
        }
    }

    @Test func acceptWithPeerConnectAndFinishConnect() async throws {
        let (listener, address) = tcpListener()
        defer { try? listener.close() }
        let client = FileDescriptor(rawValue: socket(AF_INET, CInt(SOCK_STREAM.rawValue), 0))
        defer { try? client.close() }
        let peer = heapAddress()
        defer { peer.deallocate() }
        let peerLength = UnsafeMutablePointer<socklen_t>.allocate(capacity: 1)
        defer { peerLength.deallocate() }
        peerLength.pointee = socklen_t(MemoryLayout<sockaddr_in>.size)
        let pointers = Unchecked((peer, peerLength))
        let accepting = Task {
            try await listener.accept(peer: asSockaddr(pointers.value.0), peerLength: pointers.value.1, deadline: .after(.seconds(5)))
        }
        let target = heapAddress(address)
        defer { target.deallocate() }
        try await client.connect(to: asSockaddr(target), length: socklen_t(MemoryLayout<sockaddr_in>.size), deadline: .after(.seconds(5)))
        try await client.finishConnect(deadline: .after(.seconds(2)))
        let server = try await accepting.value
        defer { try? server.close() }
        #expect(peer.pointee.sin_family == sa_family_t(AF_INET))
        #expect(peer.pointee.sin_addr.s_addr == inet_addr("127.0.0.1"))
        #expect(try await client.write([1, 2], deadline: .after(.seconds(2))) == 2)
        #expect(try await server.read(exactly: 2, deadline: .after(.seconds(2))) == [1, 2])
        // A blocked accept is cancelled with its Task.
        let blocked = Task { await outcome { try await listener.accept(deadline: .never).rawValue } }
        try await Task.sleep(for: .milliseconds(50))
        blocked.cancel()
        #expect(await blocked.value == .cancelled)
    }

    @Test func pollWithTimeoutAndDeadline() async throws {
        let (r, w) = try pipePair()
        defer { try? r.close(); try? w.close() }
        let fds = UnsafeMutableBufferPointer<pollfd>.allocate(capacity: 1)
        defer { fds.deallocate() }
        fds[0] = pollfd(fd: r.rawValue, events: Int16(POLLIN), revents: 0)
        let start = Deadline.now
        #expect(try await FileDescriptor.poll(fds, timeout: .milliseconds(40), deadline: .never) == 0)
        #expect(Deadline.now - start >= .milliseconds(40))
        #expect(await outcome { try await FileDescriptor.poll(fds, deadline: .after(.milliseconds(30))) } == .errno(.timedOut))
        rawWrite(w, [1])
        #expect(try await FileDescriptor.poll(fds, timeout: .seconds(2), deadline: .never) == 1)
        #expect(fds[0].revents & Int16(POLLIN) != 0)
    }

    @Test func fillingReadWriteAllAndArrays() async throws {
        let (r, w) = try pipePair()
        defer { try? r.close(); try? w.close() }
        try await withScratch(4) { b async throws in
            b.copyBytes(from: [1, 2, 3, 4])
            #expect(try await w.writeAll(UnsafeRawBufferPointer(b), deadline: .after(.seconds(2))) == 4)
            b.initializeMemory(as: UInt8.self, repeating: 0)
            #expect(try await r.read(filling: b, deadline: .after(.seconds(2))) == 4)
            #expect(Array(b) == [1, 2, 3, 4])
            #expect(await outcome { try await r.read(filling: b, deadline: .after(.milliseconds(30))) }
                == .incomplete(IncompleteTransfer(errno: .timedOut, bytesTransferred: 0)))
        }
        #expect(try await w.write([8, 9], deadline: .never) == 2)
        #expect(try await r.read(upToCount: 10, deadline: .after(.seconds(2))) == [8, 9])
    }

    @Test func deadlineDescriptorAsyncForms() async throws {
        let (a, b) = socketPair()
        defer { try? a.close(); try? b.close() }
        let left = try! DeadlineDescriptor(a.duplicate()), right = try! DeadlineDescriptor(b.duplicate())
        try await withScratch(3) { buf async throws in
            buf.copyBytes(from: [1, 2, 3])
            #expect(try await left.write(UnsafeRawBufferPointer(buf)) == 3)
            #expect(try await left.send(UnsafeRawBufferPointer(buf)) == 3)
            #expect(try await left.writeAll(UnsafeRawBufferPointer(buf)) == 3)
            buf.initializeMemory(as: UInt8.self, repeating: 0)
            #expect(try await right.read(into: buf) == 3)
            #expect(try await right.receive(into: buf) == 3)
            #expect(try await right.read(filling: buf) == 3)
            #expect(Array(buf) == [1, 2, 3])
            // A blocked read meets a deadline set from elsewhere.
            let shared = Unchecked(buf)
            let reading = Task { await outcome { try await right.read(into: shared.value) } }
            try await Task.sleep(for: .milliseconds(50))
            right.setReadDeadline(.now)
            #expect(await reading.value == .errno(.timedOut))
            right.setReadDeadline(.never)
            // And is cancelled with its Task.
            let cancelled = Task { await outcome { try await right.read(filling: shared.value) } }
            try await Task.sleep(for: .milliseconds(50))
            cancelled.cancel()
            #expect(await cancelled.value == .incomplete(IncompleteTransfer(errno: .canceled, bytesTransferred: 0)))
        }
        let (listener, address) = tcpListener()
        defer { try? listener.close() }
        let accepting = Task { try await try! DeadlineDescriptor(listener.duplicate()).accept() }
        let client = try tcpConnect(address)
        defer { try? client.close() }
        let server = try await accepting.value
        try? server.close()
    }
}
