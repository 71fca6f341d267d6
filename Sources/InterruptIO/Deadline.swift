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
/// A deadline is whole nanoseconds, and every conversion and sum rounds a
/// sub-nanosecond part so that the deadline is never earlier than the exact
/// instant.
public struct Deadline: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Nanoseconds on `CLOCK_MONOTONIC`; `UInt64.max` is ``never``.
    public var uptimeNanoseconds: UInt64

    /// The instant `uptimeNanoseconds` on `CLOCK_MONOTONIC` (`UInt64.max` is
    /// ``never``).
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

    /// The same instant on `SuspendingClock`, exactly.
    ///
    /// On Linux `SuspendingClock` reads `CLOCK_MONOTONIC`, the clock a
    /// deadline counts on, and an instant is a `Duration` since that clock's
    /// zero. The conversion reads no clock: the same instant always gives the
    /// same deadline. A sub-nanosecond part rounds up, so the deadline is
    /// never earlier than the instant; an instant before the clock's zero
    /// becomes 0, one 292 years or more after it ``never``.
    ///
    /// On other systems `SuspendingClock` reads another clock, and the
    /// conversion goes through the time left until the instant, reading
    /// `SuspendingClock` first: never earlier than the instant, later by the
    /// time between the two reads.
    public init(_ instant: SuspendingClock.Instant) {
        #if os(Linux) || os(Android)
        #if compiler(>=6.3)
        // SE-0473: the clock's zero, which is CLOCK_MONOTONIC's zero.
        self = Deadline(uptimeNanoseconds: 0) + SuspendingClock().systemEpoch.duration(to: instant)
        #else
        // Before SE-0473: an instant's one stored property is its Duration
        // since the clock's zero (the size check guards that layout).
        if MemoryLayout<SuspendingClock.Instant>.size == MemoryLayout<Duration>.size {
            self = Deadline(uptimeNanoseconds: 0) + unsafeBitCast(instant, to: Duration.self)
        } else {
            let remaining = SuspendingClock.now.duration(to: instant)
            self = .now + remaining
        }
        #endif
        #else
        let remaining = SuspendingClock.now.duration(to: instant)
        self = .now + remaining
        #endif
    }

    /// The same instant on `ContinuousClock`, which reads `CLOCK_BOOTTIME`
    /// on Linux. The two clocks differ by the time the machine spent
    /// suspended, so the conversion goes through the time left until the
    /// instant. It is never earlier than the instant: `ContinuousClock` is
    /// read first, so the time between the two reads makes the deadline
    /// later, and a deadline that spans a suspend fires later than the
    /// instant would.
    public init(_ instant: ContinuousClock.Instant) {
        let remaining = ContinuousClock.now.duration(to: instant)
        self = .now + remaining
    }

    public static func < (lhs: Deadline, rhs: Deadline) -> Bool {
        lhs.uptimeNanoseconds < rhs.uptimeNanoseconds
    }

    /// Moves a deadline by a duration, saturating at zero and at ``never``.
    /// ``never`` stays ``never``.
    ///
    /// A deadline is whole nanoseconds; a duration with a sub-nanosecond
    /// part rounds so that the result is never earlier than the exact
    /// instant: up to the next nanosecond (`+ .nanoseconds(1) / 3` adds 1 ns,
    /// `+ .nanoseconds(-1) / 3` adds nothing).
    public static func + (lhs: Deadline, rhs: Duration) -> Deadline {
        if lhs == .never { return .never }
        let delta = Deadline.saturatingNanoseconds(rhs, rounding: .up)
        if delta == .max { return .never }   // ~292 years or more: no deadline
        if delta >= 0 {
            let (sum, overflow) = lhs.uptimeNanoseconds.addingReportingOverflow(UInt64(delta))
            return overflow || sum == .max ? .never : Deadline(uptimeNanoseconds: sum)
        }
        let magnitude = delta.magnitude
        return Deadline(uptimeNanoseconds: lhs.uptimeNanoseconds > magnitude ? lhs.uptimeNanoseconds - magnitude : 0)
    }

    /// Moves a deadline back by a duration, saturating as `+` does, and,
    /// as `+` does, never earlier than the exact instant: a sub-nanosecond
    /// part of `rhs` rounds down (`- .nanoseconds(1) / 3` subtracts
    /// nothing, `- .nanoseconds(-1) / 3` adds 1 ns).
    public static func - (lhs: Deadline, rhs: Duration) -> Deadline {
        if rhs == .zero { return lhs }
        let delta = Deadline.saturatingNanoseconds(rhs, rounding: .down)
        return lhs + .nanoseconds(delta == .min ? .max : -delta)
    }

    /// The signed time from `rhs` to `lhs`, saturating.
    public static func - (lhs: Deadline, rhs: Deadline) -> Duration {
        let a = lhs.uptimeNanoseconds, b = rhs.uptimeNanoseconds
        return a >= b ? .nanoseconds(Int64(clamping: a - b)) : .nanoseconds(-Int64(clamping: b - a))
    }

    /// `Deadline.never`, or the instant in nanoseconds.
    public var description: String {
        self == .never ? "Deadline.never" : "Deadline(\(uptimeNanoseconds) ns)"
    }

    static let maximumDuration = Duration.nanoseconds(Int64.max)

    /// How ``saturatingNanoseconds(_:rounding:)`` treats a sub-nanosecond
    /// part.
    enum NanosecondRounding {
        /// Toward zero: a shorter magnitude.
        case towardZero
        /// Toward +infinity: the next whole nanosecond at or above.
        case up
        /// Toward -infinity: the whole nanosecond at or below.
        case down
    }

    /// A Duration in whole nanoseconds, clamped to Int64 (about 292 years),
    /// its sub-nanosecond part rounded as `rounding` says (toward zero
    /// unless told otherwise).
    static func saturatingNanoseconds(_ duration: Duration, rounding: NanosecondRounding = .towardZero) -> Int64 {
        // One 128-bit division by a constant, which the compiler turns into
        // multiplications (`components` made two library divisions: about
        // 190 instructions of every `Deadline.after`, measured by the
        // server benchmark's callgrind run). The quotient truncates toward
        // zero; the remainder has the duration's sign.
        var (nanoseconds, remainder) = duration.attoseconds.quotientAndRemainder(dividingBy: 1_000_000_000)
        switch rounding {
        case .towardZero: break
        case .up: if remainder > 0 { nanoseconds += 1 }
        case .down: if remainder < 0 { nanoseconds -= 1 }
        }
        return Int64(clamping: nanoseconds)
    }
}
