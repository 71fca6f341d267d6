// What the two Swift echo servers of the server benchmark share: the
// command line, the first line they print, and the stop signals.
#if canImport(Glibc)
import Glibc
#endif

/// `--port P` (0, the default, picks a free port) and the boolean flags
/// named in `flags`; prints a usage line and exits 64 on anything else.
public func parseCommandLine(_ name: String, flags: Set<String> = []) -> (port: UInt16, flags: Set<String>) {
    var port: UInt16 = 0
    var given: Set<String> = []
    var arguments = CommandLine.arguments.dropFirst()
    while let argument = arguments.popFirst() {
        if argument == "--port", let value = arguments.popFirst(), let p = UInt16(value) {
            port = p
        } else if flags.contains(argument) {
            given.insert(argument)
        } else {
            fail("usage: \(name) [--port P]\(flags.sorted().map { " [\($0)]" }.joined())", status: 64)
        }
    }
    return (port, given)
}

/// Blocks SIGTERM and SIGINT (call it before any thread starts: every
/// thread inherits the mask, so only ``waitForStopSignal()`` receives them)
/// and ignores SIGPIPE (a peer that went away is an error of the write).
public func blockStopSignals() {
    var set = stopSignals()
    pthread_sigmask(SIG_BLOCK, &set, nil)
    signal(SIGPIPE, SIG_IGN)
}

/// Returns when SIGTERM or SIGINT arrives.
public func waitForStopSignal() {
    var set = stopSignals()
    var received: CInt = 0
    sigwait(&set, &received)
}

private func stopSignals() -> sigset_t {
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGTERM)
    sigaddset(&set, SIGINT)
    return set
}

/// The first line every benchmark server prints (the runner reads the port
/// from it), flushed at once.
public func announce(port: Int) {
    print("listening on 127.0.0.1:\(port)")
    fflush(nil)
}

/// A line on standard error, then exit with `status`.
public func fail(_ message: String, status: CInt = 1) -> Never {
    let bytes = Array((message + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(status)
}
