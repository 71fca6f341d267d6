// A line echo server, one thread per connection, with idle read deadlines,
// write deadlines and a graceful shutdown on SIGINT or SIGTERM.
//   swift run interruptio-echo-server [--port 7007] [--idle 30] [--write-timeout 5]
import ArgumentParser
import EchoServer
import InterruptIO

#if canImport(Glibc)
import Glibc
#endif

@main
struct EchoServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "interruptio-echo-server",
        abstract: "Echoes lines on 127.0.0.1, one thread per connection, with deadlines.",
        discussion: """
            Each connection gets its own thread making plain blocking calls: a read \
            waits at most --idle seconds for data (an idle client is closed), a write \
            at most --write-timeout seconds. SIGINT or SIGTERM shuts down gracefully: \
            the listener is closed, every connection thread is interrupted and joined, \
            and the server prints a summary and exits with status 0.

            Exit status: 0 after a graceful shutdown, 1 when it cannot listen, 64 for \
            bad options.
            """
    )

    @Option(help: "The TCP port on 127.0.0.1 (0 picks a free one and prints it).")
    var port: Int = 7007

    @Option(help: "Seconds a connection may stay silent before it is closed.")
    var idle: Double = 30

    @Option(help: "Seconds one reply may take to write before the connection is closed.")
    var writeTimeout: Double = 5

    func validate() throws {
        guard (0...65_535).contains(port) else {
            throw ValidationError("--port must be between 0 and 65535, not \(port).")
        }
        for (name, value) in [("--idle", idle), ("--write-timeout", writeTimeout)] {
            guard value.isFinite, value > 0, value <= 86_400 * 365 else {
                throw ValidationError("\(name) must be a number of seconds above 0 and at most a year, not \(value).")
            }
        }
    }

    func run() throws {
        // SIGINT and SIGTERM go to one thread that waits for them: blocked
        // here, before any thread starts, so every thread inherits the mask.
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGINT)
        sigaddset(&stopSignals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &stopSignals, nil)

        let server: EchoServer
        do {
            server = try EchoServer(
                port: UInt16(port), idleTimeout: .seconds(idle), writeTimeout: .seconds(writeTimeout))
        } catch {
            printError("cannot listen on 127.0.0.1:\(port): \(error)")
            throw ExitCode.failure
        }
        say("echoing lines on 127.0.0.1:\(server.port); idle connections close after \(idle) s; Ctrl-C stops")
        let waiter = try startSignalWaiter(for: server)
        server.run()
        pthread_join(waiter, nil)
    }
}

/// The thread that waits for SIGINT or SIGTERM and shuts the server down.
func startSignalWaiter(for server: EchoServer) throws -> pthread_t {
    let started = tryStartThread(named: "iio-signals", detached: false) {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        var received: CInt = 0
        sigwait(&set, &received)
        let start = ContinuousClock.now
        server.shutdown()
        let took = ContinuousClock.now - start
        let ms = Double(took.components.seconds) * 1e3 + Double(took.components.attoseconds) / 1e15
        let (served, idle) = server.counts
        say("shut down in \((ms * 100).rounded() / 100) ms: \(served) connections served, \(idle) closed for idleness")
    }
    switch started {
    case .success(let thread): return thread
    case .failure(let error):
        printError("cannot start a thread: \(error)")
        throw ExitCode.failure
    }
}

/// A line on standard output, flushed at once (also when it is a pipe).
func say(_ line: String) {
    print(line)
    fflush(nil)
}

/// A line on standard error, prefixed with the command's name.
func printError(_ message: String) {
    let line = Array("interruptio-echo-server: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
