import CInterruptIO
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Child processes: waiting for one to end, with a deadline and
/// cancellation like every other blocking call here.
public enum ChildProcess {
    /// How a child process ended.
    public enum Exit: Sendable, Hashable, CustomStringConvertible {
        /// It exited with this status (`exit`, or returning from `main`).
        case exited(CInt)
        /// This signal ended it.
        case signaled(CInt)

        /// `exit status N` or `killed by signal N`.
        public var description: String {
            switch self {
            case .exited(let status): "exit status \(status)"
            case .signaled(let signal): "killed by signal \(signal)"
            }
        }
    }

    /// Waits until the child `pid` ends and reaps it.
    ///
    /// Throws `Errno.timedOut` at the deadline and `Errno.canceled` when the
    /// thread is cancelled (the child goes on and stays unreaped: wait
    /// again, or stop it first), `Errno.noChildProcess` for a process that
    /// is not an unwaited child of this one. The corresponding C function is
    /// `waitid` (through `iio_waitid`, with `P_PID` and `WEXITED`).
    @available(*, noasync, message: "blocks the calling thread: await the async form, or call it from a thread of your own")
    public static func waitForExit(_ pid: pid_t, deadline: Deadline) throws(Errno) -> Exit {
        var info = siginfo_t()
        _ = try interruptible(deadline) { Int(iio_waitid(CInt(P_PID.rawValue), UInt32(bitPattern: pid), &info, WEXITED)) }
        let status = info._sifields._sigchld.si_status
        return info.si_code == CLD_EXITED ? .exited(status) : .signaled(status)
    }

    /// Waits until the child `pid` ends and reaps it, on ``BlockingPool``:
    /// the sync form's outcomes, and Task cancellation throws
    /// `CancellationError` (the child goes on, unreaped).
    public static func waitForExit(_ pid: pid_t, deadline: Deadline) async throws -> Exit {
        try await onPool(deadline) { () throws(Errno) in try waitForExit(pid, deadline: deadline) }
    }
}
