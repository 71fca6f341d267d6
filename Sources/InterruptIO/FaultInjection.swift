import CInterruptIO
import SystemPackage

/// Fault injection for tests of the code that uses this library: wrapper
/// calls fall short or fail at a rate, from a seeded generator, so a
/// program's handling of partial transfers, timeouts and cancels gets
/// exercised on every run instead of once in a blue moon.
///
/// Injected: short counts (a transfer made with a smaller count), foreign
/// `EINTR`s (hidden by the library as real ones are: none must surface),
/// `Errno.canceled` and `Errno.timedOut` (thrown instead of making the
/// call, so nothing is lost). Off by default; when off it costs nothing.
/// While on, every call takes the portable entry. The environment variable
/// `INTERRUPTIO_FAULTS` turns it on at start-up:
/// `rate=0.05,seed=42,kinds=short+eintr+canceled+timedout`.
///
/// The corresponding C functions are `iio_faults_enable`,
/// `iio_faults_disable` and `iio_faults_counts`.
public enum FaultInjection {
    /// A kind of fault to inject.
    public enum Kind: Sendable, Hashable, CaseIterable {
        /// Transfers made with a smaller count (read, write, send, receive,
        /// their vector forms, splice, tee, sendfile, copy_file_range).
        case shortCounts
        /// A foreign `EINTR`, which the library retries.
        case interruptions
        /// `Errno.canceled` instead of the call.
        case cancellations
        /// `Errno.timedOut` instead of the call.
        case timeouts

        var bit: UInt32 {
            switch self {
            case .shortCounts: IIO_FAULT_SHORT
            case .interruptions: IIO_FAULT_EINTR
            case .cancellations: IIO_FAULT_CANCELED
            case .timeouts: IIO_FAULT_TIMEDOUT
            }
        }
    }

    /// What was injected since the last ``enable(_:rate:seed:)``.
    public struct Counts: Sendable, Equatable {
        /// Calls that drew (every call made while on).
        public var calls: UInt64
        /// Transfers made with a smaller count.
        public var shortCounts: UInt64
        /// Foreign `EINTR`s injected (and hidden).
        public var interruptions: UInt64
        /// `Errno.canceled` injected.
        public var cancellations: UInt64
        /// `Errno.timedOut` injected.
        public var timeouts: UInt64
    }

    /// Turns injection on (again: new settings, counts zeroed). `rate` is
    /// the fraction of calls that get a fault, 0...1.
    ///
    /// - Throws: `Errno.invalidArgument` for no kinds or a rate outside 0...1.
    public static func enable(
        _ kinds: Set<Kind> = Set(Kind.allCases), rate: Double, seed: UInt64 = 0
    ) throws(Errno) {
        guard rate >= 0, rate <= 1 else { throw .invalidArgument }
        let bits = kinds.reduce(0) { $0 | $1.bit }
        let result = iio_faults_enable(bits, UInt32((rate * 1_000_000).rounded()), seed)
        if result < 0 { throw Errno(rawValue: -result) }
    }

    /// Turns injection off; the entry mode in force before comes back.
    public static func disable() { iio_faults_disable() }

    /// Whether injection is on.
    public static var isEnabled: Bool { iio_faults_enabled() == 1 }

    /// What was injected since it was last enabled.
    public static var counts: Counts {
        var raw = iio_fault_counts_t()
        iio_faults_counts(&raw)
        return Counts(calls: raw.calls, shortCounts: raw.short_counts, interruptions: raw.eintrs,
                      cancellations: raw.cancels, timeouts: raw.timeouts)
    }
}
