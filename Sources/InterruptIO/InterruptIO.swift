import CInterruptIO
import SystemPackage

/// Process-wide set-up: the signal and the entry path.
public enum InterruptIO {
    /// Installs the handler on `signal` (nil: `INTERRUPTIO_SIGNAL` or the
    /// default, `SIGRTMAX - 6`). Idempotent; the first interruptible call
    /// runs it lazily with the default.
    ///
    /// - Throws: `Errno.invalidArgument` for a signal that is not SIGUSR1,
    ///   SIGUSR2 or a real-time signal glibc leaves to applications;
    ///   `Errno.resourceBusy` when another handler owns it and `chain` is
    ///   false; `Errno.alreadyInProcess` when already set up with another.
    ///
    /// The corresponding C function is `iio_init`.
    public static func initialize(signal: CInt? = nil, chain: Bool = false) throws(Errno) {
        let result = iio_init(signal ?? 0, chain ? UInt32(IIO_INIT_CHAIN) : 0)
        if result < 0 { throw Errno(rawValue: -result) }
    }

    /// The signal in use, or nil before initialisation.
    public static var signal: CInt? {
        let s = iio_signal()
        return s == 0 ? nil : s
    }

    /// Whether the handler for our signal is still ours (false when someone
    /// replaced it after set-up, or before set-up).
    public static var isHandlerIntact: Bool { iio_handler_intact() == 1 }

    /// How calls enter the kernel.
    public enum EntryMode: Sendable, Hashable {
        /// The asm stub whose window the handler can redirect (x86_64,
        /// aarch64): a request can never be lost at syscall entry.
        case pcWindow
        /// Check, then syscall; cancellers re-send until acknowledged. The
        /// only mode under ThreadSanitizer and on other architectures.
        case portable
    }

    /// The process-wide entry path. Change it only while no interruptible
    /// call is in flight.
    public static var entryMode: EntryMode {
        iio_entry_mode() == IIO_ENTRY_PC_WINDOW ? .pcWindow : .portable
    }

    /// Whether this build has the PC-window entry (x86_64 and aarch64, not
    /// under ThreadSanitizer).
    public static var isPCWindowAvailable: Bool { iio_pc_window_available() == 1 }

    /// Chooses the process-wide entry path (`iio_set_entry_mode`); change it
    /// only while no interruptible call is in flight.
    ///
    /// - Throws: `Errno.notSupported` when the PC window is not available.
    public static func setEntryMode(_ mode: EntryMode) throws(Errno) {
        let result = iio_set_entry_mode(mode == .pcWindow ? IIO_ENTRY_PC_WINDOW : IIO_ENTRY_PORTABLE)
        if result < 0 { throw Errno(rawValue: -result) }
    }
}
