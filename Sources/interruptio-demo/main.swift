// InterruptIO in one command: swift run interruptio-demo
import ArgumentParser
import InterruptIO
import SystemPackage
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

func microseconds(_ d: Duration) -> Int64 {
    let (s, a) = d.components
    return s * 1_000_000 + a / 1_000_000_000_000
}

/// How the library reports the two outcomes it adds.
func describe(_ error: Errno) -> String {
    switch error {
    case .timedOut: "Errno.timedOut (deadline passed)"
    case .canceled: "Errno.canceled"
    default: "\(error)"
    }
}

@main
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "interruptio-demo",
        abstract: "Shows InterruptIO at work in four short scenes, then exits with status 0.",
        discussion: """
            1. a read on an empty pipe returns at its deadline, and the pipe still works;
            2. a blocked accept is cancelled from another thread;
            3. 1,000 threads blocked on pipes are each released at their own deadline;
            4. a Task awaiting a read is cancelled.
            Each scene prints what happened and how long it took.
            """
    )

    func run() async throws {
        print("InterruptIO demo: blocking calls with deadlines and cancellation; the descriptors stay usable.\n")
        try blockingScenes()
        try await taskScene()
    }
}

/// Scenes 1-3: plain threads making blocking calls (synchronous code).
func blockingScenes() throws {
    // 1. A read blocked on an empty pipe returns at its deadline; the same pipe
    //    then delivers data intact.
    do {
        let (r, w) = try FileDescriptor.pipe()
        var buffer = [UInt8](repeating: 0, count: 64)
        let deadline = Deadline.after(.milliseconds(200))
        let outcome = buffer.withUnsafeMutableBytes { p -> String in
            do throws(Errno) { return "read \(try r.read(into: p, deadline: deadline)) bytes (unexpected)" } catch { return describe(error) }
        }
        let late = Deadline.now - deadline
        print("1. read on an empty pipe, deadline 200 ms: \(outcome), \(microseconds(late)) us after the deadline")
        _ = try Array("still works\n".utf8).withUnsafeBytes { try w.write($0, deadline: .never) }
        let n = try buffer.withUnsafeMutableBytes { try r.read(into: $0, deadline: .after(.seconds(1))) }
        print("   the same pipe then read \(n) bytes: \(String(decoding: buffer[..<n], as: UTF8.self))", terminator: "")
        try r.close(); try w.close()
    }

    // 2. A blocked accept, cancelled from another thread.
    do {
        let fd = socket(AF_INET, CInt(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(fd, 8)
        let listener = FileDescriptor(rawValue: fd)
        let handle = Mutex<InterruptibleThread?>(nil)
        let result = Mutex<String>("")
        let returned = Mutex<Deadline?>(nil)
        let thread = startThread("demo", detached: false) {
            handle.withLock { $0 = try? InterruptibleThread.current() }
            do throws(Errno) { _ = try listener.accept(deadline: .never); result.withLock { $0 = "accepted (unexpected)" } } catch {
                result.withLock { $0 = describe(error) }
            }
            returned.withLock { $0 = .now }
        }
        usleep(100_000)
        let sent = Deadline.now
        while returned.withLock({ $0 }) == nil {
            _ = try? handle.withLock({ $0 })?.cancel()
            usleep(100)
        }
        pthread_join(thread, nil)
        let took = returned.withLock { $0! } - sent
        print("2. accept with no client, cancelled from another thread: \(result.withLock { $0 }) after \(microseconds(took)) us")
        try listener.close()
    }

    // 3. 1,000 threads blocked on empty pipes, each released at its own deadline.
    do {
        let count = 1_000
        let start = Deadline.now + .milliseconds(200)
        let lateness = Mutex<[Int64]>([])
        var pipes: [(FileDescriptor, FileDescriptor)] = []
        for _ in 0..<count { pipes.append(try FileDescriptor.pipe()) }
        var threads: [pthread_t] = []
        for i in 0..<count {
            let r = pipes[i].0
            threads.append(startThread("demo", detached: false) {
                let deadline = start + .microseconds(Int64(i) * 500)
                var b = [UInt8](repeating: 0, count: 1)
                let timedOut = b.withUnsafeMutableBytes { p -> Bool in
                    do throws(Errno) { _ = try r.read(into: p, deadline: deadline); return false } catch { return error == .timedOut }
                }
                let late = microseconds(Deadline.now - deadline)
                lateness.withLock { $0.append(timedOut ? late : -1) }
            })
        }
        for t in threads { pthread_join(t, nil) }
        for (r, w) in pipes { try r.close(); try w.close() }
        let all = lateness.withLock { $0 }.sorted()
        let buckets: [(String, Int64)] = [("< 50 us", 50), ("< 100 us", 100), ("< 250 us", 250), ("< 500 us", 500), ("< 1 ms", 1_000), ("< 2 ms", 2_000), (">= 2 ms", .max)]
        print("3. \(count) threads blocked with deadlines spread over 0.5 s, all timed out: \(all.allSatisfy { $0 >= 0 })")
        print("   lateness p50 \(all[all.count / 2]) us, p99 \(all[all.count * 99 / 100]) us, max \(all.last!) us")
        var lower: Int64 = 0
        for (label, upper) in buckets {
            let n = all.filter { $0 >= lower && $0 < upper }.count
            lower = upper
            print("   \(label.padding(9)) \(String(repeating: "#", count: (n + 9) / 10)) \(n)")
        }
    }

}

/// Scene 4: a Task cancelled while its read is in flight.
func taskScene() async throws {
    do {
        let (r, w) = try FileDescriptor.pipe()
        let task = Task { () -> String in
            do {
                _ = try await r.read(upToCount: 16, deadline: .never)
                return "data (unexpected)"
            } catch is CancellationError {
                return "CancellationError (the Task's cancellation, as Task.sleep reports it)"
            } catch {
                return "\(error)"
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        let cancelled = Deadline.now
        task.cancel()
        let outcome = await task.value
        print("4. a Task awaiting a read on an empty pipe, cancelled: \(outcome) after \(microseconds(Deadline.now - cancelled)) us")
        try r.close(); try w.close()
    }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
