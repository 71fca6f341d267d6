import InterruptIO
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct DeadlineArithmetic {
    @Test func neverIsTheLargestAndStaysNever() {
        #expect(Deadline.never > Deadline.now)
        #expect(Deadline.never + .seconds(1) == .never)
        #expect(Deadline.never - .seconds(1) == .never)
        #expect(!Deadline.never.hasPassed)
    }

    @Test func enormousTimeoutsSaturateInsteadOfWrapping() {
        let far = Deadline.now + .seconds(Int64.max)
        #expect(far == .never)
        let huge = Deadline(uptimeNanoseconds: UInt64.max - 10) + .nanoseconds(100)
        #expect(huge == .never)
        let early = Deadline(uptimeNanoseconds: 5) - .seconds(10)
        #expect(early == Deadline(uptimeNanoseconds: 0))
        #expect(Deadline(uptimeNanoseconds: 5) + .nanoseconds(-10) == Deadline(uptimeNanoseconds: 0))
        #expect(Deadline(uptimeNanoseconds: 100) - .nanoseconds(Int64.min) == .never)
    }

    @Test func differencesAndRemaining() {
        let a = Deadline(uptimeNanoseconds: 1_000), b = Deadline(uptimeNanoseconds: 4_000)
        #expect(b - a == .nanoseconds(3_000))
        #expect(a - b == .nanoseconds(-3_000))
        #expect(Deadline(uptimeNanoseconds: 1).timeRemaining == .zero)
        #expect(Deadline(uptimeNanoseconds: 1).hasPassed)
        let soon = Deadline.after(.seconds(10))
        #expect(soon.timeRemaining > .seconds(9) && soon.timeRemaining <= .seconds(10))
        #expect(Deadline.never.timeRemaining > .seconds(1_000_000_000))
    }

    @Test func clockConversionsLandOnTheSameInstant() {
        // SuspendingClock is read before Deadline.after reads the clock: the
        // exact conversion is at or before `direct`, and close to it.
        let fromSuspending = Deadline(SuspendingClock.now + .milliseconds(500))
        let direct = Deadline.after(.milliseconds(500))
        #expect(fromSuspending <= direct && direct - fromSuspending < .milliseconds(5))
        let fromContinuous = Deadline(ContinuousClock.now + .milliseconds(500))
        #expect((fromContinuous - direct) < .milliseconds(5) && (direct - fromContinuous) < .milliseconds(5))
        #expect(Deadline(uptimeNanoseconds: 7).uptimeNanoseconds == 7)
    }

    /// `Deadline(SuspendingClock.Instant)` is exact: an instant a known
    /// duration after the clock's zero gives that many nanoseconds (a
    /// sub-nanosecond part rounded up), whenever it is converted. A
    /// conversion relative to now drifts by the time between clock reads.
    @Test func suspendingInstantConvertsExactly() {
        let zero = SuspendingClock().systemEpoch
        var rng = SplitMix(state: 7)
        var mismatches = 0
        for round in 0..<2_000 {
            let ns = UInt64(1 << 20) + rng.next() % (1 << 50)      // up to ~13 days of uptime
            let attoseconds = round % 3 == 0 ? 0 : Int64(rng.next() % 1_000_000_000)
            let instant = zero.advanced(by: .nanoseconds(Int64(ns)) + .init(secondsComponent: 0, attosecondsComponent: attoseconds))
            let expected = ns + (attoseconds > 0 ? 1 : 0)
            if Deadline(instant).uptimeNanoseconds != expected { mismatches += 1 }
        }
        #expect(mismatches == 0)
        // The same far instant converted at two different moments.
        let far = SuspendingClock.now + .seconds(3_600)
        let first = Deadline(far)
        usleep(2_000)
        #expect(Deadline(far) == first)
        // Instants before the clock's zero clamp to 0, not wrap.
        #expect(Deadline(zero.advanced(by: .seconds(-5))) == Deadline(uptimeNanoseconds: 0))
    }

    /// Deadline and SuspendingClock read the same clock: an instant read
    /// between two Deadline.now reads converts to a deadline between them.
    @Test func suspendingInstantIsOnCLOCK_MONOTONIC() {
        var outside = 0
        for _ in 0..<1_000 {
            let before = Deadline.now
            let instant = SuspendingClock.now
            let after = Deadline.now
            let converted = Deadline(instant)
            if converted < before || converted > after { outside += 1 }
        }
        #expect(outside == 0)
    }

    /// A duration with a sub-nanosecond part rounds so that the sum is
    /// never earlier than the exact instant (and no later than the next
    /// nanosecond): `+` rounds up, `-` subtracts the duration rounded down.
    @Test func subNanosecondDurationsNeverMakeADeadlineEarly() {
        let base = Deadline(uptimeNanoseconds: 100)
        let third = Duration.nanoseconds(1) / 3
        #expect(base + third == Deadline(uptimeNanoseconds: 101))
        #expect(base + Duration(secondsComponent: 0, attosecondsComponent: 1) == Deadline(uptimeNanoseconds: 101))
        #expect(base + (.nanoseconds(5) / 2) == Deadline(uptimeNanoseconds: 103))
        #expect(base + (Duration.zero - third) == base)                  // exact 99.67
        #expect(base - third == base)                                     // exact 99.67
        #expect(base - (Duration.zero - third) == Deadline(uptimeNanoseconds: 101))
        #expect(base + .nanoseconds(7) == Deadline(uptimeNanoseconds: 107))
        #expect(Deadline(uptimeNanoseconds: 0) - third == Deadline(uptimeNanoseconds: 0))
        #expect(Deadline(uptimeNanoseconds: 0) + Duration(secondsComponent: 2, attosecondsComponent: 1) == Deadline(uptimeNanoseconds: 2_000_000_001))

        // Against exact attosecond arithmetic, for random bases and durations.
        var rng = SplitMix(state: 11)
        var wrong = 0
        for _ in 0..<20_000 {
            let ns = rng.next() % (1 << 62)
            let seconds = Int64(bitPattern: rng.next()) % (1 << 30)
            let attoseconds = (seconds < 0 ? -1 : 1) * Int64(rng.next() % 1_000_000_000_000_000_000)
            let duration = Duration(secondsComponent: seconds, attosecondsComponent: attoseconds)
            let exactAtto = Int128(seconds) * 1_000_000_000_000_000_000 + Int128(attoseconds)
            for (sign, result) in [(Int128(1), Deadline(uptimeNanoseconds: ns) + duration),
                                   (Int128(-1), Deadline(uptimeNanoseconds: ns) - duration)] {
                let target = Int128(ns) * 1_000_000_000 + sign * exactAtto   // attoseconds
                var ceiling = target / 1_000_000_000
                if target % 1_000_000_000 > 0 { ceiling += 1 }
                if result.uptimeNanoseconds != UInt64(max(0, ceiling)) { wrong += 1 }
            }
        }
        #expect(wrong == 0)
    }
}
