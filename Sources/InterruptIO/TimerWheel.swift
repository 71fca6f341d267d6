/// A hierarchical timer wheel: O(1) schedule and cancel, the next expiry in
/// a few bit operations. Single-threaded; the deadline driver owns one.
///
/// Invariants:
/// - Time is counted in ticks of 2^10 ns (1.024 µs). An entry's tick is its
///   deadline rounded *up*; `elapsed` is the last instant passed to
///   ``advance(to:into:)`` rounded *down*. So an entry fires only once
///   `now >= deadline`, never early, and at most one tick late (plus however
///   late the caller advances).
/// - Level L has 64 slots of 64^L ticks each; nine levels cover 10 + 6 × 9 =
///   64 bits, so every instant has a place and nothing is clamped.
/// - An entry with tick t lives at the level of the highest 6-bit group in
///   which t differs from `elapsed`, in slot `(t >> 6L) & 63`. So all entries
///   of level L are later than all entries of lower levels, and the first
///   occupied slot of the lowest occupied level holds the next expiry.
///   Reaching a slot of level L > 0 re-files its entries relative to the new
///   `elapsed` (they cascade down); no entry is fired from a coarse slot, so
///   there is no rounding error of the Linux non-cascading kind.
/// - `elapsed` never passes the start of an occupied slot: `advance` walks
///   slot by slot up to `now`. Hence an occupied slot is never behind the
///   level's current position and no search wraps.
/// - Each id is in at most one list; scheduling an id that is pending moves
///   it. Lists are intrusive (arrays indexed by id), so nothing allocates
///   once the id range has been seen.
public final class TimerWheel {
    public static let tickShift = 10
    static let levelCount = 9
    static let slotsPerLevel = 64
    static let dueList = levelCount * slotsPerLevel
    static let none: Int32 = -1

    // Single-threaded by contract, and no method hands out an access that
    // could overlap another: the runtime exclusivity checks would only cost
    // time on every schedule and cancel.
    @exclusivity(unchecked) private var capacity: Int
    @exclusivity(unchecked) private var next: UnsafeMutablePointer<Int32>
    @exclusivity(unchecked) private var previous: UnsafeMutablePointer<Int32>
    @exclusivity(unchecked) private var list: UnsafeMutablePointer<Int32>      // which list, or none
    @exclusivity(unchecked) private var deadlines: UnsafeMutablePointer<UInt64>
    private let heads: UnsafeMutablePointer<Int32>
    private let occupied: UnsafeMutablePointer<UInt64>
    @exclusivity(unchecked) private var elapsed: UInt64
    /// How many ids are pending.
    @exclusivity(unchecked) public private(set) var count = 0

    /// A wheel whose clock starts at `now` (nanoseconds) and that holds ids
    /// from 0 up; it grows past `capacity` when a larger id is scheduled.
    public init(now: UInt64, capacity: Int = 64) {
        self.capacity = max(capacity, 1)
        next = .allocate(capacity: self.capacity)
        previous = .allocate(capacity: self.capacity)
        list = .allocate(capacity: self.capacity)
        list.initialize(repeating: Self.none, count: self.capacity)
        deadlines = .allocate(capacity: self.capacity)
        heads = .allocate(capacity: Self.dueList + 1)
        heads.initialize(repeating: Self.none, count: Self.dueList + 1)
        occupied = .allocate(capacity: Self.levelCount)
        occupied.initialize(repeating: 0, count: Self.levelCount)
        elapsed = now >> UInt64(Self.tickShift)
    }

    deinit {
        next.deallocate()
        previous.deallocate()
        list.deallocate()
        deadlines.deallocate()
        heads.deallocate()
        occupied.deallocate()
    }

    /// The deadline `id` is pending for, or nil.
    public func deadline(of id: Int) -> UInt64? {
        id < capacity && list[id] != Self.none ? deadlines[id] : nil
    }

    /// Files `id` to fire at `deadline` (nanoseconds), moving it if pending.
    public func schedule(_ id: Int, at deadline: UInt64) {
        precondition(id >= 0, "timer ids are non-negative")
        if id >= capacity { grow(toInclude: id) }
        if list[id] != Self.none { unlink(Int32(id)) } else { count += 1 }
        deadlines[id] = deadline
        link(Int32(id), into: listFor(tick: Self.tickRoundedUp(deadline)))
    }

    /// Removes `id` if pending; returns whether it was.
    @discardableResult
    public func cancel(_ id: Int) -> Bool {
        guard id >= 0, id < capacity, list[id] != Self.none else { return false }
        unlink(Int32(id))
        count -= 1
        return true
    }

    /// The instant (nanoseconds) at which ``advance(to:into:)`` next has work:
    /// an entry to fire, or a coarse slot to cascade. Nil when empty.
    public var nextExpiry: UInt64? {
        if heads[Self.dueList] != Self.none { return elapsed << UInt64(Self.tickShift) }
        guard let (_, _, start) = nextSlot() else { return nil }
        let (ns, overflow) = start.multipliedReportingOverflow(by: 1 << UInt64(Self.tickShift))
        return overflow ? .max : ns
    }

    /// Moves the clock to `now` (nanoseconds, never backwards) and appends
    /// every id whose deadline is at or before `now` to `fired`, earliest
    /// tick first. Fired ids are no longer pending.
    public func advance(to now: UInt64, into fired: inout [Int]) {
        let nowTick = now >> UInt64(Self.tickShift)
        takeList(Self.dueList) { id in fired.append(Int(id)) }
        while let (level, slot, start) = nextSlot(), start <= nowTick {
            elapsed = start
            let index = level * Self.slotsPerLevel + slot
            if level == 0 {
                takeList(index) { id in fired.append(Int(id)) }
            } else {
                takeList(index) { id in
                    let tick = Self.tickRoundedUp(deadlines[Int(id)])
                    if tick <= elapsed {
                        fired.append(Int(id))   // due at this slot's start
                    } else {
                        count += 1
                        link(id, into: listFor(tick: tick))
                    }
                }
            }
        }
        if nowTick > elapsed { elapsed = nowTick }
    }

    // MARK: Levels

    /// The last tick there is; deadlines in it fire at its start.
    static let lastTick: UInt64 = (1 << UInt64(64 - tickShift)) - 1

    static func tickRoundedUp(_ ns: UInt64) -> UInt64 {
        let mask: UInt64 = (1 << UInt64(tickShift)) - 1
        return min((ns >> UInt64(tickShift)) + (ns & mask == 0 ? 0 : 1), lastTick)
    }

    private func listFor(tick: UInt64) -> Int {
        if tick <= elapsed { return Self.dueList }
        let masked = (elapsed ^ tick) | 63
        let level = (63 - masked.leadingZeroBitCount) / 6
        let slot = Int((tick >> UInt64(6 * level)) & 63)
        return level * Self.slotsPerLevel + slot
    }

    /// The first occupied slot of the lowest occupied level and the tick at
    /// which it starts.
    private func nextSlot() -> (level: Int, slot: Int, start: UInt64)? {
        for level in 0..<Self.levelCount {
            let bits = occupied[level]
            if bits == 0 { continue }
            let shift = UInt64(6 * level)
            let position = Int((elapsed >> shift) & 63)
            let ahead = bits & (~0 << UInt64(position))
            let slot = (ahead != 0 ? ahead : bits).trailingZeroBitCount
            let levelSpanBits = shift + 6
            let base = levelSpanBits >= 64 ? 0 : (elapsed >> levelSpanBits) << levelSpanBits
            return (level, slot, base | (UInt64(slot) << shift))
        }
        return nil
    }

    // MARK: Intrusive lists

    private func link(_ id: Int32, into index: Int) {
        let head = heads[index]
        next[Int(id)] = head
        previous[Int(id)] = Self.none
        if head != Self.none { previous[Int(head)] = id }
        heads[index] = id
        list[Int(id)] = Int32(index)
        if index != Self.dueList {
            occupied[index >> 6] |= 1 << UInt64(index & 63)
        }
    }

    private func unlink(_ id: Int32) {
        let index = Int(list[Int(id)])
        let after = next[Int(id)], before = previous[Int(id)]
        if before != Self.none { next[Int(before)] = after } else { heads[index] = after }
        if after != Self.none { previous[Int(after)] = before }
        list[Int(id)] = Self.none
        if heads[index] == Self.none && index != Self.dueList {
            occupied[index >> 6] &= ~(1 << UInt64(index & 63))
        }
    }

    /// Empties a list, handing each id (already unlinked) to `body`.
    private func takeList(_ index: Int, _ body: (Int32) -> Void) {
        var id = heads[index]
        if id == Self.none { return }
        heads[index] = Self.none
        if index != Self.dueList { occupied[index >> 6] &= ~(1 << UInt64(index & 63)) }
        while id != Self.none {
            let following = next[Int(id)]
            list[Int(id)] = Self.none
            count -= 1
            body(id)
            id = following
        }
    }

    private func grow(toInclude id: Int) {
        var newCapacity = capacity
        while newCapacity <= id { newCapacity *= 2 }
        func moved<T>(_ old: UnsafeMutablePointer<T>, fill: T?) -> UnsafeMutablePointer<T> {
            let fresh = UnsafeMutablePointer<T>.allocate(capacity: newCapacity)
            fresh.moveInitialize(from: old, count: capacity)
            if let fill { (fresh + capacity).initialize(repeating: fill, count: newCapacity - capacity) }
            old.deallocate()
            return fresh
        }
        next = moved(next, fill: nil)
        previous = moved(previous, fill: nil)
        list = moved(list, fill: Self.none)
        deadlines = moved(deadlines, fill: nil)
        capacity = newCapacity
    }
}
