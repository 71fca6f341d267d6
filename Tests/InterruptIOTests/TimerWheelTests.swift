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

@Suite struct TimerWheelBehaviour {
    @Test func firesAtTheDeadlineNeverBefore() {
        let wheel = TimerWheel(now: 1_000_000)
        wheel.schedule(3, at: 1_005_000)
        var fired: [Int] = []
        wheel.advance(to: 1_004_999, into: &fired)
        #expect(fired.isEmpty)
        #expect(wheel.nextExpiry! >= 1_005_000 && wheel.nextExpiry! < 1_005_000 + 1024)
        wheel.advance(to: 1_006_100, into: &fired)
        #expect(fired == [3])
        #expect(wheel.count == 0 && wheel.nextExpiry == nil)
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
        wheel.advance(to: UInt64.max, into: &fired)
        #expect(fired == [1, 0])
    }

    /// The wheel against a plain model under random schedule, cancel,
    /// re-schedule and advance steps: same set fired at each advance, in
    /// tick order, nothing early, nothing lost, nothing twice.
    @Test func matchesASortedModel() {
        let steps = environmentInt("INTERRUPTIO_WHEEL_STEPS", default: 300_000)
        var rng = SplitMix(state: 42)
        let ids = 2_000
        var now: UInt64 = 1 << 32
        let wheel = TimerWheel(now: now)
        var model = [UInt64?](repeating: nil, count: ids)
        var fired: [Int] = []
        var firedTotal = 0
        var failures = 0
        var advances = 0
        for _ in 0..<steps {
            let roll = rng.next() % 100
            let id = Int(rng.next() % UInt64(ids))
            if roll < 55 {
                // Deadlines from the past to hours ahead, most within 100 ms.
                let spread: UInt64 = [2_000, 100_000, 100_000_000, 10_000_000_000_000][Int(rng.next() % 4)]
                let at = now &- 1_000 &+ rng.next() % spread
                wheel.schedule(id, at: at)
                model[id] = at
            } else if roll < 80 {
                let was = wheel.cancel(id)
                if was != (model[id] != nil) { failures += 1 }
                model[id] = nil
            } else {
                now += rng.next() % 3_000_000
                fired.removeAll(keepingCapacity: true)
                wheel.advance(to: now, into: &fired)
                var lastTick: UInt64 = 0
                var seen = Set<Int>()
                for f in fired {
                    guard let at = model[f] else { failures += 1; continue }  // fired twice or cancelled
                    if at > now { failures += 1 }                               // early
                    let tick = (at + 1023) >> 10
                    if tick < lastTick { failures += 1 }                        // out of order
                    lastTick = tick
                    if !seen.insert(f).inserted { failures += 1 }
                    model[f] = nil
                }
                firedTotal += fired.count
                advances += 1
                if advances % 64 == 0 {
                    for at in model where at != nil && (at! + 1023) >> 10 <= now >> 10 {
                        failures += 1                                           // lost
                    }
                }
            }
        }
        #expect(failures == 0)
        #expect(firedTotal > steps / 20)
        #expect(wheel.count == model.compactMap { $0 }.count)
    }
}
