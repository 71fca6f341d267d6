import InterruptIO
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A deterministic generator, so a failure can be replayed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Serialized: its tests are long and synchronous, and Swift Testing runs
/// them on the cooperative pool, whose two threads (on 2 cores) the async
/// suites' timing checks need too.
@Suite(.serialized) struct TimerWheelBehaviour {
    @Test func firesAtTheDeadlineNeverBefore() {
        let wheel = TimerWheel(now: 1_000_000)
        wheel.schedule(3, at: 1_005_000)
        #expect(wheel.nextExpiry == 1_005_000)
        var fired: [Int] = []
        wheel.advance(to: 1_004_999, into: &fired)
        #expect(fired.isEmpty)
        #expect(wheel.nextExpiry == 1_005_000)
        wheel.advance(to: 1_005_000, into: &fired)
        #expect(fired == [3])
        #expect(wheel.count == 0 && wheel.nextExpiry == nil)
    }

    /// An id fires in the first advance whose `now` reaches its deadline,
    /// even when `now` is in the middle of the deadline's 1.024 µs tick.
    @Test func firesWithinTheTickOfItsDeadline() {
        let wheel = TimerWheel(now: 0)
        wheel.schedule(1, at: 1_025)
        var fired: [Int] = []
        wheel.advance(to: 1_024, into: &fired)
        #expect(fired.isEmpty)
        #expect(wheel.nextExpiry == 1_025)
        wheel.advance(to: 1_500, into: &fired)
        #expect(fired == [1])

        // Three deadlines in one tick, reached one by one.
        let tick: UInt64 = 5 << 10
        wheel.schedule(2, at: tick + 100)
        wheel.schedule(3, at: tick + 500)
        wheel.schedule(4, at: tick + 900)
        fired.removeAll()
        wheel.advance(to: tick + 499, into: &fired)
        #expect(fired == [2])
        #expect(wheel.nextExpiry == tick + 500)
        wheel.advance(to: tick + 500, into: &fired)
        #expect(fired == [2, 3])
        #expect(wheel.nextExpiry == tick + 900)
        wheel.advance(to: tick + 899, into: &fired)
        #expect(fired == [2, 3])
        wheel.advance(to: tick + 900, into: &fired)
        #expect(fired == [2, 3, 4])
        #expect(wheel.nextExpiry == nil)
    }

    /// The last tick is not clamped: a deadline just below `UInt64.max`
    /// fires neither early nor late.
    @Test func deadlinesAtTheTopOfTheRangeAreExact() {
        let wheel = TimerWheel(now: 0)
        wheel.schedule(0, at: UInt64.max - 1)
        wheel.schedule(1, at: UInt64.max)
        wheel.schedule(2, at: UInt64.max - 5_000)
        var fired: [Int] = []
        wheel.advance(to: UInt64.max - 5_001, into: &fired)
        #expect(fired.isEmpty)
        wheel.advance(to: UInt64.max - 1_000, into: &fired)
        #expect(fired == [2])
        #expect(wheel.nextExpiry == UInt64.max - 1)
        wheel.advance(to: UInt64.max - 2, into: &fired)
        #expect(fired == [2])
        wheel.advance(to: UInt64.max - 1, into: &fired)
        #expect(fired == [2, 0])
        #expect(wheel.nextExpiry == UInt64.max)
        wheel.advance(to: UInt64.max, into: &fired)
        #expect(fired == [2, 0, 1])
    }

    /// A deadline already passed fires in the next advance, even one to the
    /// same instant, and until then nextExpiry says it is due.
    @Test func pastDeadlinesAreDueAtOnce() {
        let wheel = TimerWheel(now: 10_000)
        wheel.schedule(1, at: 9_000)
        wheel.schedule(2, at: 10_000)
        wheel.schedule(3, at: 10_001)
        #expect(wheel.nextExpiry! <= 10_000)
        var fired: [Int] = []
        wheel.advance(to: 10_000, into: &fired)
        #expect(Set(fired) == [1, 2])
        #expect(wheel.nextExpiry == 10_001)
    }

    @Test func cancelAndRescheduleMove() {
        let wheel = TimerWheel(now: 0)
        wheel.schedule(1, at: 10_000_000)
        wheel.schedule(2, at: 20_000_000)
        #expect(wheel.cancel(1))
        #expect(!wheel.cancel(1))
        wheel.schedule(2, at: 5_000)
        #expect(wheel.deadline(of: 2) == 5_000)
        var fired: [Int] = []
        wheel.advance(to: 30_000_000, into: &fired)
        #expect(fired == [2])
    }

    @Test func farFutureAndPastDeadlines() {
        let wheel = TimerWheel(now: 1 << 40)
        wheel.schedule(0, at: UInt64.max - 1)
        wheel.schedule(1, at: 5)   // long past: due at once
        var fired: [Int] = []
        wheel.advance(to: 1 << 40, into: &fired)
        #expect(fired == [1])
        wheel.advance(to: (1 << 40) + (1 << 50), into: &fired)
        #expect(fired == [1])
        wheel.advance(to: UInt64.max - 2, into: &fired)
        #expect(fired == [1])
        wheel.advance(to: UInt64.max, into: &fired)
        #expect(fired == [1, 0])
    }

    /// A driver that always sleeps exactly until nextExpiry: it never
    /// spins (each wake is later than the last), and every id fires at a
    /// wake whose `now` equals its deadline.
    @Test func drivenByNextExpiryFiresOnTheDot() {
        var rng = SplitMix(state: 3)
        let start: UInt64 = 1 << 36
        let wheel = TimerWheel(now: start)
        var deadlines: [UInt64] = []
        for id in 0..<600 {
            let spread: UInt64 = [1_000, 50_000, 10_000_000, 1 << 44][id % 4]
            var at = start + 1 + rng.next() % spread
            // Twenty in one tick (more than nextExpiry reads exactly),
            // earliest filed first.
            if id % 30 == 0 { at = start + (40 << 10) + UInt64(id) }
            deadlines.append(at)
            wheel.schedule(id, at: at)
        }
        var now = start, wakes = 0, spins = 0, offTime = 0, firedCount = 0
        var fired: [Int] = []
        while let next = wheel.nextExpiry {
            if next <= now { spins += 1; break }
            now = next
            wakes += 1
            fired.removeAll(keepingCapacity: true)
            wheel.advance(to: now, into: &fired)
            for id in fired where deadlines[id] != now { offTime += 1 }
            firedCount += fired.count
        }
        #expect(spins == 0 && offTime == 0)
        #expect(firedCount == 600 && wheel.count == 0)
        // Cascades cost a few extra wakes; most wakes fire something.
        #expect(wakes < 3 * 600)
    }

    /// The wheel against a plain model under random schedule, cancel,
    /// re-schedule and advance steps. At each advance the fired set is
    /// exactly the pending ids with deadline <= now (nothing early, nothing
    /// late, nothing twice), in the documented order. nextExpiry, checked
    /// after every step, is nil exactly when nothing is pending, never
    /// after the earliest pending deadline, and after the latest `now`
    /// unless some deadline is at or before it.
    @Test func matchesASortedModel() {
        let steps = environmentInt("INTERRUPTIO_WHEEL_STEPS", default: 100_000)
        var rng = SplitMix(state: 42)
        let ids = 2_000
        var now: UInt64 = 1 << 32
        let wheel = TimerWheel(now: now)
        var model = [UInt64?](repeating: nil, count: ids)
        var pending = 0
        var fired: [Int] = []
        var firedTotal = 0
        var failures = 0
        var early = 0, late = 0, disorder = 0, badExpiry = 0
        for step in 0..<steps {
            let roll = rng.next() % 100
            let id = Int(rng.next() % UInt64(ids))
            if roll < 55 {
                // Deadlines from the past to hours ahead, most within 100 ms.
                let spread: UInt64 = [2_000, 100_000, 100_000_000, 10_000_000_000_000][Int(rng.next() % 4)]
                let at = now &- 1_000 &+ rng.next() % spread
                wheel.schedule(id, at: at)
                if model[id] == nil { pending += 1 }
                model[id] = at
            } else if roll < 80 {
                let was = wheel.cancel(id)
                if was != (model[id] != nil) { failures += 1 }
                if model[id] != nil { pending -= 1 }
                model[id] = nil
            } else {
                let previousTick = now >> 10
                // Steps within a tick, across a few ticks, and long jumps.
                now += [rng.next() % 4, rng.next() % 3_000, rng.next() % 3_000_000, rng.next() % (1 << 36)][Int(rng.next() % 16) / 5]
                fired.removeAll(keepingCapacity: true)
                wheel.advance(to: now, into: &fired)
                var lastTick: UInt64 = 0
                for f in fired {
                    guard let at = model[f] else { failures += 1; continue }  // fired twice or cancelled
                    if at > now { early += 1 }
                    let tick = at >> 10
                    if tick > previousTick {
                        if tick < lastTick { disorder += 1 }
                        lastTick = tick
                    } else if lastTick != 0 {
                        disorder += 1                          // an overdue id after a walked one
                    }
                    model[f] = nil
                    pending -= 1
                }
                firedTotal += fired.count
            }
            if wheel.count != pending { failures += 1 }
            // The full scans are the slow part: after every advance, and
            // after one in eight other steps.
            if roll >= 80 || step % 8 == 0 {
                var earliest: UInt64? = nil
                for case let at? in model {
                    if at <= now && roll >= 80 { late += 1 }                 // due, not fired
                    earliest = min(earliest ?? .max, at)
                }
                switch (wheel.nextExpiry, earliest) {
                case (nil, nil): break
                case let (next?, earliest?):
                    if next > earliest { badExpiry += 1 }                     // would oversleep
                    if earliest > now && next <= now { badExpiry += 1 }       // would spin
                default: badExpiry += 1
                }
            }
        }
        #expect(failures == 0)
        #expect(early == 0)
        #expect(late == 0)
        #expect(disorder == 0)
        #expect(badExpiry == 0)
        #expect(firedTotal > steps / 20)
    }
}
