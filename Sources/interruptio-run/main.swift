// Runs a command with deadlines: streams its stdout and stderr line by line,
// and stops it (SIGTERM, then SIGKILL after a grace period) when it has been
// silent too long (--idle) or has run too long (--timeout).
//   swift run interruptio-run --idle 60 --timeout 900 -- swift build
import ArgumentParser
import InterruptIO
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

@main
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "interruptio-run",
        abstract: "Runs a command with an idle deadline and an overall deadline.",
        discussion: """
            The command's standard output and standard error are passed on line by line \
            (each to the same stream). When it writes nothing on either for --idle \
            seconds, or runs longer than --timeout seconds, it is sent SIGTERM, then \
            SIGKILL if it has not ended --grace seconds later. One line on standard \
            error then says which deadline fired and how the command ended. Only the \
            command's own process is signalled.

            Every blocking step uses InterruptIO's deadline-bounded calls: the two \
            pipes are read by two threads under one shared deadline (each line of \
            output moves it later for both), and the command is waited for with \
            waitid under a deadline.

            Exit status: the command's own; 128+N when signal N ended it; 124 when a \
            deadline fired; 125 when interruptio-run itself failed; 126 when the \
            command cannot be run, 127 when it is not found; 64 for bad options.
            """
    )

    @Option(help: "Stop the command after this many seconds without output.")
    var idle: Double?

    @Option(help: "Stop the command after this many seconds in all.")
    var timeout: Double?

    @Option(help: "Seconds between SIGTERM and SIGKILL.")
    var grace: Double = 2

    @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.")
    var command: [String] = []

    func validate() throws {
        for (name, value) in [("--idle", idle), ("--timeout", timeout), ("--grace", grace)] {
            if let value, !(value.isFinite && value > 0 && value <= 86_400 * 365) {
                throw ValidationError("\(name) must be a number of seconds above 0 and at most a year, not \(value).")
            }
        }
        if command.isEmpty { throw ValidationError("Missing the command to run, after --.") }
    }

    func run() throws {
        let status = try Supervisor(argv: command, idle: idle.map { .seconds($0) },
                                    timeout: timeout.map { .seconds($0) }, grace: .seconds(grace)).run()
        throw ExitCode(status)
    }
}

/// One run of one command.
final class Supervisor: Sendable {
    enum Fired: Int { case none = 0, idle, overall }

    let argv: [String]
    let idle: Duration?
    let timeout: Duration?
    let grace: Duration
    let overall: Deadline
    private let fired = Atomic<Int>(Fired.none.rawValue)

    init(argv: [String], idle: Duration?, timeout: Duration?, grace: Duration) {
        self.argv = argv
        self.idle = idle
        self.timeout = timeout
        self.grace = grace
        overall = timeout.map { Deadline.after($0) } ?? .never
    }

    func run() throws -> CInt {
        let out = try FileDescriptor.pipe(), err = try FileDescriptor.pipe()
        let pid: pid_t
        switch spawn(argv, stdout: out.writeEnd, stderr: err.writeEnd) {
        case .success(let child): pid = child
        case .failure(let error):
            try? out.readEnd.close(); try? out.writeEnd.close()
            try? err.readEnd.close(); try? err.writeEnd.close()
            report("cannot run \(argv[0]): \(error)")
            return error == .noSuchFileOrDirectory ? 127 : 126
        }
        try out.writeEnd.close()
        try err.writeEnd.close()
        let streams = [try DeadlineDescriptor(out.readEnd), try DeadlineDescriptor(err.readEnd)]
        moveIdleDeadline(streams)
        let readers = zip(streams, [CInt(1), CInt(2)]).map { stream, target in
            startReader(stream, to: target, moving: streams)
        }
        for reader in readers { pthread_join(reader, nil) }

        var how = Fired(rawValue: fired.load(ordering: .sequentiallyConsistent))!
        var ended: ChildProcess.Exit? = nil
        if how == .none {
            // Both pipes are at end of file: the command is ending (or has
            // handed them on); it still has until the overall deadline.
            do throws(Errno) {
                ended = try ChildProcess.waitForExit(pid, deadline: overall)
            } catch {
                if error != .timedOut { report("waitid: \(error)"); return 125 }
                how = .overall
            }
        }
        guard let ended else {
            let stop = stopChild(pid)
            report("the \(how == .idle ? "idle deadline (\(seconds(idle!)) s without output)" : "overall deadline (\(seconds(timeout!)) s)") fired: \(stop.steps); the command ended: \(stop.exit)")
            return 124
        }
        report("the command ended: \(ended)")
        switch ended {
        case .exited(let status): return status
        case .signaled(let signal): return 128 + signal
        }
    }

    /// The idle deadline, as one absolute instant on both pipes: each line of
    /// output on either moves it later for both (Go's SetReadDeadline,
    /// reaching the other thread's read in flight). Never past the overall one.
    private func moveIdleDeadline(_ streams: [DeadlineDescriptor]) {
        let next = min(idle.map { Deadline.after($0) } ?? .never, overall)
        for stream in streams { stream.setReadDeadline(next) }
    }

    private func startReader(_ stream: DeadlineDescriptor, to target: CInt, moving streams: [DeadlineDescriptor]) -> pthread_t {
        let started = tryStartThread(named: target == 1 ? "iio-run-stdout" : "iio-run-stderr", detached: false) { [self] in
            var pending: [UInt8] = []
            defer { emit(pending, to: target) } // a last line without its newline
            while true {
                let bytes: [UInt8]
                do throws(Errno) {
                    bytes = try stream.read(upToCount: 4096)
                } catch {
                    if error == .timedOut {
                        let which: Fired = Deadline.now >= overall ? .overall : .idle
                        _ = fired.compareExchange(expected: Fired.none.rawValue, desired: which.rawValue, ordering: .sequentiallyConsistent)
                    }
                    return
                }
                if bytes.isEmpty { return } // end of file
                moveIdleDeadline(streams)
                // Only the new bytes are searched: a long line costs linear
                // time, not quadratic (found by the outside review).
                let start = pending.count
                pending += bytes
                if let newline = bytes.lastIndex(of: UInt8(ascii: "\n")) {
                    let last = start + newline
                    emit(pending[...last], to: target)
                    pending.removeSubrange(...last)
                }
            }
        }
        switch started {
        case .success(let thread): return thread
        case .failure(let error): fatalError("interruptio-run: cannot start a thread: \(error)")
        }
    }

    /// SIGTERM; SIGKILL if the command has not ended after the grace period.
    private func stopChild(_ pid: pid_t) -> (steps: String, exit: String) {
        kill(pid, SIGTERM)
        do throws(Errno) {
            let exit = try ChildProcess.waitForExit(pid, deadline: .after(grace))
            return ("sent SIGTERM", "\(exit)")
        } catch {
            kill(pid, SIGKILL)
            let exit = (try? ChildProcess.waitForExit(pid, deadline: .never)).map { "\($0)" } ?? "unknown"
            return ("sent SIGTERM, then SIGKILL after the \(seconds(grace)) s grace", exit)
        }
    }
}

/// Writes whole lines to our stdout (1) or stderr (2) in one write each.
func emit<Bytes: Collection<UInt8>>(_ bytes: Bytes, to target: CInt) {
    guard !bytes.isEmpty else { return }
    _ = try? FileDescriptor(rawValue: target).writeAll(Array(bytes), deadline: .never)
}

func report(_ message: String) {
    emit(Array("interruptio-run: \(message)\n".utf8), to: 2)
}

func seconds(_ duration: Duration) -> String {
    let (s, a) = duration.components
    let value = Double(s) + Double(a) / 1e18
    return value == value.rounded() ? "\(Int(value))" : "\((value * 1000).rounded() / 1000)"
}

/// Starts argv (searched on PATH) with its stdout and stderr on the given
/// pipes, no signal blocked or ignored, stdin inherited.
func spawn(_ argv: [String], stdout: FileDescriptor, stderr: FileDescriptor) -> Result<pid_t, Errno> {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, stdout.rawValue, 1)
    posix_spawn_file_actions_adddup2(&actions, stderr.rawValue, 2)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t(), all = sigset_t()
    sigemptyset(&none)
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setsigdefault(&attributes, &all)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    defer { cArgs.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawnp(&pid, argv[0], &actions, &attributes, &cArgs, environ)
    return rc == 0 ? .success(pid) : .failure(Errno(rawValue: rc))
}
