// A line echo server, one thread per connection, with idle read deadlines,
// write deadlines and a graceful shutdown on SIGINT or SIGTERM.
//   swift run interruptio-echo-server [port] [idle-seconds]
import EchoServer
import Glibc

let arguments = CommandLine.arguments
let port = arguments.count > 1 ? UInt16(arguments[1]) ?? 7007 : 7007
let idle = arguments.count > 2 ? Int64(arguments[2]) ?? 30 : 30

// SIGINT and SIGTERM are taken by a thread that waits for them, so they are
// blocked everywhere else (threads inherit the mask).
var stopSignals = sigset_t()
sigemptyset(&stopSignals)
sigaddset(&stopSignals, SIGINT)
sigaddset(&stopSignals, SIGTERM)
pthread_sigmask(SIG_BLOCK, &stopSignals, nil)

let server: EchoServer
do {
    server = try EchoServer(port: port, idleTimeout: .seconds(idle))
} catch {
    print("cannot listen on 127.0.0.1:\(port): \(error)")
    exit(1)
}
print("echoing lines on 127.0.0.1:\(server.port); idle connections close after \(idle) s; Ctrl-C stops")

final class Waiter { let server: EchoServer; init(_ s: EchoServer) { server = s } }
var waiter = pthread_t()
pthread_create(&waiter, nil, { raw in
    let server = Unmanaged<Waiter>.fromOpaque(raw!).takeRetainedValue().server
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    sigaddset(&set, SIGTERM)
    var received: CInt = 0
    sigwait(&set, &received)
    var start = timespec(), end = timespec()
    clock_gettime(CLOCK_MONOTONIC, &start)
    server.shutdown()
    clock_gettime(CLOCK_MONOTONIC, &end)
    let ms = Double(end.tv_sec - start.tv_sec) * 1e3 + Double(end.tv_nsec - start.tv_nsec) / 1e6
    let (served, idle) = server.counts
    print("\nshut down in \((ms * 100).rounded() / 100) ms: \(served) connections served, \(idle) closed for idleness")
    return nil
}, Unmanaged.passRetained(Waiter(server)).toOpaque())

server.run()
pthread_join(waiter, nil)
