import CInterruptIO
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The one timer thread. It keeps each thread record that has a deadline
/// scheduled once in a ``TimerWheel`` and sleeps until the exact next expiry
/// (absolute `CLOCK_MONOTONIC`, timer slack 1 ns); with nothing scheduled it
/// sleeps without a limit. Threads wake it only when a call starts under a
/// deadline earlier than the instant it sleeps toward (see deadline.c).
///
/// Every decision about a record is the C layer's (`iio_timer_review`,
/// the handshake written in deadline.c): a notified record, or one whose
/// instant came, is reviewed, and the review says when to look again. A
/// deadline that moved later is scheduled again (lazy cancellation: a call
/// that finished in time costs the driver nothing until its old deadline);
/// a passed one interrupts the exact thread and operation.
enum TimerDriver {
    /// Starts the driver once per process (and again in a fork child, where
    /// the C layer calls the starter registered here when a call needs it).
    @inline(__always)
    static func ensureRunning() {
        if iio_timer_claim_driver() == 1 { start() }
    }

    private static func start() {
        iio_timer_set_starter(iio_swift_start_timer_driver)
        // No thread to be had (a thread limit): give the claim back rather
        // than trap; the C layer sees no driver running, enforces deadlines
        // at call start meanwhile, and a later call tries again.
        if case .failure = tryStartThread(named: "iio-timer", { TimerDriver.run() }) {
            iio_timer_release_driver()
        }
    }

    private static let never = UInt64.max

    private static func run() -> Never {
        iio_timer_driver_started()
        let wheel = TimerWheel(now: iio_now_ns(), capacity: 256)
        // The blocking pool's queued calls, by timer slot (BlockingPool).
        let queuedCalls = TimerWheel(now: iio_now_ns(), capacity: 16)
        var filed: [(slot: Int, instant: UInt64)] = []
        var fired: [Int] = []
        fired.reserveCapacity(256)
        while true {
            var now = iio_now_ns()
            while case let index = iio_timer_take_notified(), index >= 0 {
                place(Int(index), at: iio_timer_review(UInt32(index), now), in: wheel)
            }
            BlockingPool.takeTimerRequests(into: &filed)
            for (slot, instant) in filed { place(slot, at: instant, in: queuedCalls) }
            now = iio_now_ns()
            fired.removeAll(keepingCapacity: true)
            wheel.advance(to: now, into: &fired)
            for index in fired {
                place(index, at: iio_timer_review(UInt32(index), now), in: wheel)
            }
            fired.removeAll(keepingCapacity: true)
            queuedCalls.advance(to: now, into: &fired)
            for slot in fired {
                place(slot, at: BlockingPool.expireQueued(slot: slot, now: now), in: queuedCalls)
            }
            let chores = BlockingPool.timerChores(now: now)
            iio_timer_sleep(min(wheel.nextExpiry ?? never, queuedCalls.nextExpiry ?? never, chores))
        }
    }

    private static func place(_ index: Int, at instant: UInt64, in wheel: TimerWheel) {
        if instant == never { wheel.cancel(index) } else { wheel.schedule(index, at: instant) }
    }
}

/// Lets a C program that links this module start the deadline driver.
@_cdecl("iio_swift_start_timer_driver")
public func iio_swift_start_timer_driver() {
    TimerDriver.ensureRunning()
}
