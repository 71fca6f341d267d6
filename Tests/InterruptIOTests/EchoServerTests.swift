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

/// Lines of /proc/self/maps: a finished but unjoined thread keeps its
/// stack (and guard page) mapped.
func mappingCount() -> Int {
    guard let f = fopen("/proc/self/maps", "r") else { return -1 }
    defer { fclose(f) }
    var count = 0
    var line = [CChar](repeating: 0, count: 1024)
    while fgets(&line, 1024, f) != nil { count += 1 }
    return count
}

@Suite(.serialized) struct EchoServerIntegration {
    /// Connections opened and closed one after another leave nothing
    /// behind: each connection's thread goes away with it (the outside
    /// benchmark measured 2,000 connections taking the server from 92 to
    /// 4,100 mappings when finished threads waited to be joined).
    @Test func finishedConnectionsLeaveNoThreadBehind() throws {
        let server = try EchoServer(idleTimeout: .seconds(5), writeTimeout: .seconds(1))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = server.port.bigEndian
        addr.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let runner = TestThread { server.run(); return true }
        func oneConnection(_ i: Int) throws {
            let client = try tcpConnect(addr)
            let line = Array("line \(i)\n".utf8)
            #expect(writeResult(client, line, deadline: .after(.seconds(2))) == .success(line.count))
            var echoed = [UInt8](repeating: 0, count: line.count)
            _ = try echoed.withUnsafeMutableBytes { p throws(IncompleteTransfer) in try client.read(filling: p, deadline: .after(.seconds(2))) }
            #expect(echoed == line)
            try client.close()
        }
        for i in 0..<20 { try oneConnection(i) }   // warm-up: the process's own mappings settle
        usleep(100_000)
        let before = mappingCount()
        for i in 0..<300 { try oneConnection(i) }
        // Let the last connection threads see their EOF and end.
        let settle = Deadline.after(.seconds(3))
        while server.counts.served < 320 && !settle.hasPassed { usleep(1_000) }
        usleep(50_000)
        let after = mappingCount()
        #expect(server.counts.served == 320)
        #expect(after - before < 60, "mappings grew from \(before) to \(after) over 300 connections")
        server.shutdown()
        #expect(runner.join(within: .seconds(2)) == true)
    }

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
