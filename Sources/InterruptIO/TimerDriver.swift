import CInterruptIO
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The one timer thread. It keeps each thread record that has a deadline
/// filed once in a ``TimerWheel`` and sleeps until the exact next expiry
/// (absolute `CLOCK_MONOTONIC`, timer slack 1 ns); with nothing filed it
/// sleeps without a limit. Threads wake it only when a call starts under a
/// deadline earlier than the instant it sleeps toward (see deadline.c).
///
/// When a filing comes due, the C layer looks at the record as it is now:
/// a deadline moved later is filed again (lazy cancellation: a call that
/// finished in time costs the driver nothing until its old deadline), a
/// passed one sends the request, with reason "deadline", to the exact
/// thread and operation.
enum TimerDriver {
    /// Starts the driver once per process (and again in a fork child).
    @inline(__always)
    static func ensureRunning() {
        if iio_timer_claim_driver() == 1 { start() }
    }

    private static func start() {
        startThread("timer") { TimerDriver.run() }
    }

    private static let never = UInt64.max

    private static func run() -> Never {
        iio_timer_driver_started()
        let wheel = TimerWheel(now: iio_now_ns(), capacity: 256)
        var fired: [Int] = []
        fired.reserveCapacity(256)
        while true {
            while case let index = iio_timer_take_notified(), index >= 0 {
                let filing = wheel.deadline(of: Int(index)) ?? never
                file(Int(index), at: filing, in: wheel, dropPast: false)
            }
            let now = iio_now_ns()
            fired.removeAll(keepingCapacity: true)
            wheel.advance(to: now, into: &fired)
            for index in fired {
                let next = iio_timer_expire(UInt32(index), now)
                file(index, at: next, in: wheel, dropPast: next == never)
            }
            iio_timer_sleep(wheel.nextExpiry ?? never)
        }
    }

    /// Files a record at `at` and tells the C layer, which answers with the
    /// record's deadline as it is after that store; an earlier one is filed
    /// instead. After an expiry was handled (`dropPast`), a deadline that
    /// has already passed needs no filing: the thread's next call fails it.
    private static func file(_ index: Int, at: UInt64, in wheel: TimerWheel, dropPast: Bool) {
        var at = at
        while true {
            if at == never { wheel.cancel(index) } else { wheel.schedule(index, at: at) }
            let deadline = iio_timer_file(UInt32(index), at)
            if deadline >= at || (dropPast && deadline <= iio_now_ns()) { return }
            at = deadline
        }
    }
}

/// Lets a C program that links this module start the deadline driver.
@_cdecl("iio_swift_start_timer_driver")
public func iio_swift_start_timer_driver() {
    TimerDriver.ensureRunning()
}
