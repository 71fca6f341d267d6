import InterruptIO
import Testing

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
        let fromSuspending = Deadline(SuspendingClock.now + .milliseconds(500))
        let direct = Deadline.after(.milliseconds(500))
        #expect(abs(Double((fromSuspending - direct).components.attoseconds) / 1e9) < 5_000_000)
        let fromContinuous = Deadline(ContinuousClock.now + .milliseconds(500))
        #expect((fromContinuous - direct) < .milliseconds(5) && (direct - fromContinuous) < .milliseconds(5))
        #expect(Deadline(uptimeNanoseconds: 7).uptimeNanoseconds == 7)
    }
}
