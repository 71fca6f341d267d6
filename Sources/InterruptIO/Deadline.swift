import CInterruptIO

/// An absolute instant after which an operation fails instead of blocking.
///
/// A deadline is a point on `CLOCK_MONOTONIC`, in nanoseconds — the clock
/// SwiftNIO's `NIODeadline.uptimeNanoseconds` uses, so converting is one line:
/// `Deadline(uptimeNanoseconds: nio.uptimeNanoseconds)`. It is absolute, as
/// Go's `SetReadDeadline` is: retrying with the same deadline does not grant
/// a fresh timeout.
///
/// Arithmetic saturates: an enormous timeout becomes ``never``, never a
/// wrapped-around instant in the past; subtracting past zero stops at zero.
public struct Deadline: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Nanoseconds on `CLOCK_MONOTONIC`; `UInt64.max` is ``never``.
    public var uptimeNanoseconds: UInt64

    @inlinable
    public init(uptimeNanoseconds: UInt64) {
        self.uptimeNanoseconds = uptimeNanoseconds
    }

    /// No deadline: operations wait as long as they must.
    @inlinable
    public static var never: Deadline { Deadline(uptimeNanoseconds: .max) }

    /// The current instant.
    ///
    /// The corresponding C function is `clock_gettime(CLOCK_MONOTONIC)`.
    @inlinable
    public static var now: Deadline { Deadline(uptimeNanoseconds: iio_now_ns()) }

    /// The instant `duration` from now.
    @inlinable
    public static func after(_ duration: Duration) -> Deadline { .now + duration }

    /// Whether the instant has been reached.
    public var hasPassed: Bool { self != .never && iio_now_ns() >= uptimeNanoseconds }

    /// The time left until the deadline: zero once it has passed, and a
    /// saturated maximum for ``never``.
    public var timeRemaining: Duration {
        if self == .never { return Deadline.maximumDuration }
        let now = iio_now_ns()
        return now >= uptimeNanoseconds ? .zero : .nanoseconds(Int64(clamping: uptimeNanoseconds - now))
    }

    /// The same instant on `SuspendingClock`, which reads `CLOCK_MONOTONIC`
    /// on Linux: the conversion is exact up to the time between two clock
    /// reads.
    public init(_ instant: SuspendingClock.Instant) {
        self = .now + (instant - SuspendingClock.now)
    }

    /// The same instant on `ContinuousClock`, which reads `CLOCK_BOOTTIME`
    /// on Linux. The two clocks differ by the time the machine spent
    /// suspended; the conversion is made relative to now, so a deadline that
    /// spans a suspend fires later than the ContinuousClock instant would.
    public init(_ instant: ContinuousClock.Instant) {
        self = .now + (instant - ContinuousClock.now)
    }

    public static func < (lhs: Deadline, rhs: Deadline) -> Bool {
        lhs.uptimeNanoseconds < rhs.uptimeNanoseconds
    }

    /// Moves a deadline by a duration, saturating at zero and at ``never``.
    /// ``never`` stays ``never``.
    public static func + (lhs: Deadline, rhs: Duration) -> Deadline {
        if lhs == .never { return .never }
        let delta = Deadline.saturatingNanoseconds(rhs)
        if delta == .max { return .never }   // ~292 years or more: no deadline
        if delta >= 0 {
            let (sum, overflow) = lhs.uptimeNanoseconds.addingReportingOverflow(UInt64(delta))
            return overflow || sum == .max ? .never : Deadline(uptimeNanoseconds: sum)
        }
        let magnitude = delta.magnitude
        return Deadline(uptimeNanoseconds: lhs.uptimeNanoseconds > magnitude ? lhs.uptimeNanoseconds - magnitude : 0)
    }

    public static func - (lhs: Deadline, rhs: Duration) -> Deadline {
        if rhs == .zero { return lhs }
        let delta = Deadline.saturatingNanoseconds(rhs)
        return lhs + .nanoseconds(delta == .min ? .max : -delta)
    }

    /// The signed time from `rhs` to `lhs`, saturating.
    public static func - (lhs: Deadline, rhs: Deadline) -> Duration {
        let a = lhs.uptimeNanoseconds, b = rhs.uptimeNanoseconds
        return a >= b ? .nanoseconds(Int64(clamping: a - b)) : .nanoseconds(-Int64(clamping: b - a))
    }

    public var description: String {
        self == .never ? "Deadline.never" : "Deadline(\(uptimeNanoseconds) ns)"
    }

    static let maximumDuration = Duration.nanoseconds(Int64.max)

    /// A Duration in whole nanoseconds, clamped to Int64 (about 292 years),
    /// rounded toward zero.
    static func saturatingNanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (total, overflow2) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflow2 { return seconds < 0 ? .min : .max }
        return total
    }
}
