import EchoServer
import InterruptIO
import SystemPackage
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Socket inodes in this process bound to or connected from `port`: the
/// server's own descriptors, whatever other tests are doing in parallel.
func socketsOnPort(_ port: UInt16) -> Set<String> {
    var inodes = Set<String>()
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        guard let f = fopen(table, "r") else { continue }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, 512, f) != nil {
            let fields = String(cString: line).split(separator: " ")
            guard fields.count > 9, let local = fields[1].split(separator: ":").last,
                  UInt16(local, radix: 16) == port else { continue }
            inodes.insert(String(fields[9]))
        }
    }
    var open = Set<String>()
    guard let dir = opendir("/proc/self/fd") else { return open }
    defer { closedir(dir) }
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        var target = [CChar](repeating: 0, count: 256)
        let n = readlink("/proc/self/fd/\(name)", &target, 255)
        guard n > 0 else { continue }
        let link = String(decoding: target[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if link.hasPrefix("socket:["), inodes.contains(String(link.dropFirst(8).dropLast())) { open.insert(name) }
    }
    return open
}

@Suite(.serialized) struct EchoServerIntegration {
    @Test func servesFastClientsTimesOutSlowOnesAndShutsDownCleanly() throws {
        let server = try EchoServer(idleTimeout: .milliseconds(300), writeTimeout: .seconds(1))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = server.port.bigEndian
        addr.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let runner = TestThread { server.run(); return true }
        #expect(socketsOnPort(server.port).count == 1)   // the listener

        // Fast clients are served.
        for i in 0..<5 {
            let client = try tcpConnect(addr)
            let line = Array("hello \(i)\n".utf8)
            #expect(writeResult(client, line, deadline: .after(.seconds(2))) == .success(line.count))
            var echoed = [UInt8](repeating: 0, count: line.count)
            let n = try echoed.withUnsafeMutableBytes { p throws(IncompleteTransfer) in try client.read(filling: p, deadline: .after(.seconds(2))) }
            #expect(n == line.count && echoed == line)
            try client.close()
        }

        // A slow client that says nothing is closed after the idle timeout.
        let slow = try tcpConnect(addr)
        let start = Deadline.now
        #expect(readResult(slow, deadline: .after(.seconds(5))) == .success(0))   // EOF from the server
        let idle = Deadline.now - start
        #expect(idle >= .milliseconds(290) && idle < .seconds(3))
        try slow.close()

        // Idle connections and the acceptor, all blocked: one shutdown.
        let idlers = try (0..<4).map { _ in try tcpConnect(addr) }
        usleep(50_000)
        let shutdownStart = Deadline.now
        server.shutdown()
        let took = Deadline.now - shutdownStart
        #expect(took < .milliseconds(100), "shutdown took \(took)")
        #expect(runner.join(within: .seconds(1)) == true)   // run() returned
        for c in idlers {
            #expect(readResult(c, deadline: .after(.seconds(2))) == .success(0))   // closed by the server
            try c.close()
        }
        #expect(socketsOnPort(server.port).isEmpty, "descriptors left open: \(socketsOnPort(server.port))")
        #expect(server.counts.served == 5)
        #expect(server.counts.idleClosed == 1)
    }
}
