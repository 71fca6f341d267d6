/// A hierarchical timer wheel: O(1) schedule and cancel, the next expiry in
/// a few bit operations (plus a scan of the due list, which holds only ids
/// due now or later in the current tick, or of at most `exactScanLimit`
/// ids). Single-threaded; the deadline driver owns one.
///
/// Contract: an id fires in the first ``advance(to:into:)`` whose `now` is
/// at or after its deadline — never in an earlier one, never in a later one.
/// ``nextExpiry`` is never later than the earliest pending deadline, and it
/// is later than the latest `now` unless an id is already due (so a driver
/// that sleeps until it neither oversleeps nor spins).
///
/// Invariants:
/// - Time is counted in ticks of 2^10 ns (1.024 µs). An entry's tick is its
///   deadline rounded *down* (`tick(of:)`); `elapsed` is the tick of the
///   latest `now` (from `init` or `advance`). A tick has 54 bits: nine
///   levels of 6 bits, so every deadline up to `UInt64.max` has a place and
///   nothing is clamped.
/// - An entry whose tick is at or before `elapsed` is in the due list. Its
///   deadline may still be after `now` (later in the current tick): advance
///   fires due-list entries whose deadline is at or before `now` and keeps
///   the others.
/// - An entry with tick t > `elapsed` lives at level L, the highest 6-bit
///   group in which t differs from `elapsed` (`level(of:elapsed:)`), in
///   slot `slot(of:level:)`, which is strictly ahead of `elapsed`'s own
///   slot in level L. So all entries of level L are later than all entries
///   of lower levels, and the lowest occupied slot of the lowest occupied
///   level holds the next work: `trailingZeroBitCount` finds it, with no
///   wrap-around (`nextSlot()` asserts the slot is ahead).
/// - `advance` walks the occupied slots in that order while they start at or
///   before `now`'s tick, setting `elapsed` to each slot's start. An entry of
///   the slot whose tick is that start fires if its deadline is at or before
///   `now` and otherwise joins the due list; any other entry is filed again
///   relative to the new `elapsed` (it cascades to a lower level and is
///   reached later in the same walk if it is due). So ids fire in tick order
///   and no deadline is rounded to a coarse slot. `elapsed` never
///   passes the start of an occupied slot, which keeps the previous
///   invariant true.
/// - Each id is in at most one list; scheduling an id that is pending moves
///   it. Lists are intrusive (arrays indexed by id), so nothing allocates
///   once the id range has been seen.
public final class TimerWheel {
    /// A tick is 2^tickShift nanoseconds (1,024 ns): the wheel's resolution.
    public static let tickShift = 10
    /// Bits of a tick per level: 64 slots a level.
    static let slotBits = 6
    static let slotsPerLevel = 1 << slotBits
    static let slotMask = UInt64(slotsPerLevel - 1)
    static let levelCount = 9
    static let dueList = levelCount * slotsPerLevel
    static let none: Int32 = -1
    /// ``nextExpiry`` reads up to this many entries of a level-0 slot to give
    /// their exact earliest deadline; a fuller slot gives its start.
    static let exactScanLimit = 8

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
        elapsed = Self.tick(of: now)
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
    /// A deadline at or before the latest `now` fires in the next advance.
    public func schedule(_ id: Int, at deadline: UInt64) {
        precondition(id >= 0, "timer ids are non-negative")
        if id >= capacity { grow(toInclude: id) }
        if list[id] != Self.none { unlink(Int32(id)) } else { count += 1 }
        deadlines[id] = deadline
        link(Int32(id), into: listFor(tick: Self.tick(of: deadline)))
    }

    /// Removes `id` if pending; returns whether it was.
    @discardableResult
    public func cancel(_ id: Int) -> Bool {
        guard id >= 0, id < capacity, list[id] != Self.none else { return false }
        unlink(Int32(id))
        count -= 1
        return true
    }

    /// The instant (nanoseconds) at which ``advance(to:into:)`` next has
    /// work, or nil when nothing is pending. Never later than the earliest
    /// pending deadline, and later than the latest `now` unless an id is
    /// already due.
    ///
    /// It is the earliest deadline itself when that is in the current tick
    /// or in the next occupied tick holding at most `exactScanLimit` ids;
    /// otherwise the start of the next occupied slot, where advancing
    /// cascades that slot's entries down and the next call is more precise.
    public var nextExpiry: UInt64? {
        let due = heads[Self.dueList]
        if due != Self.none { return earliestDeadline(from: due, limit: .max)! }
        guard let (level, slot, start) = nextSlot() else { return nil }
        if level == 0,
           let exact = earliestDeadline(from: heads[Self.listIndex(level: 0, slot: slot)], limit: Self.exactScanLimit) {
            return exact
        }
        return Self.firstNanosecond(of: start)
    }

    /// Moves the clock to `now` (nanoseconds, never backwards) and appends
    /// every id whose deadline is at or before `now` to `fired`; fired ids
    /// are no longer pending. Ids whose deadline lies in a later tick than
    /// the previous `now` come out in tick order (2^10 ns), after the others
    /// (ids scheduled at or before the previous `now`, or in its tick), which
    /// come in no particular order.
    public func advance(to now: UInt64, into fired: inout [Int]) {
        let nowTick = Self.tick(of: now)
        // The due list: ticks at or before `elapsed`, so at or before nowTick.
        var id = heads[Self.dueList]
        while id != Self.none {
            let following = next[Int(id)]
            if deadlines[Int(id)] <= now {
                unlink(id)
                count -= 1
                fired.append(Int(id))
            }
            id = following
        }
        while let (level, slot, start) = nextSlot(), start <= nowTick {
            elapsed = start
            takeList(Self.listIndex(level: level, slot: slot)) { id in
                let deadline = deadlines[Int(id)]
                let tick = Self.tick(of: deadline)
                if tick == start && deadline <= now {
                    count -= 1
                    fired.append(Int(id))
                } else {
                    // Later in this tick: the due list; later still: a lower
                    // level, reached by this walk if it is due.
                    link(id, into: listFor(tick: tick))
                }
            }
        }
        if nowTick > elapsed { elapsed = nowTick }
    }

    // MARK: Ticks, levels and slots

    /// The tick an instant (nanoseconds) lies in.
    @inline(__always)
    static func tick(of ns: UInt64) -> UInt64 { ns >> UInt64(tickShift) }

    /// The first nanosecond of a tick.
    @inline(__always)
    static func firstNanosecond(of tick: UInt64) -> UInt64 { tick << UInt64(tickShift) }

    /// The level a tick later than `elapsed` is filed at: the highest 6-bit
    /// group in which the two differ (level 0 if they differ in none).
    @inline(__always)
    static func level(of tick: UInt64, elapsed: UInt64) -> Int {
        let differing = (tick ^ elapsed) | slotMask
        let highestBit = UInt64.bitWidth - 1 - differing.leadingZeroBitCount
        return highestBit / slotBits
    }

    /// A tick's slot within a level: its 6-bit group for that level.
    @inline(__always)
    static func slot(of tick: UInt64, level: Int) -> Int {
        Int(truncatingIfNeeded: (tick >> UInt64(level * slotBits)) & slotMask)
    }

    /// The tick at which slot `slot` of level `level` starts, for the
    /// level's current revolution (the one `elapsed` is in).
    @inline(__always)
    static func start(ofSlot slot: Int, level: Int, elapsed: UInt64) -> UInt64 {
        let revolutionBits = UInt64((level + 1) * slotBits)   // at most 54
        return (elapsed >> revolutionBits) << revolutionBits | UInt64(slot) << UInt64(level * slotBits)
    }

    /// The index in `heads` of a slot's list.
    @inline(__always)
    static func listIndex(level: Int, slot: Int) -> Int { level * slotsPerLevel + slot }

    /// A slot's bit in its level's `occupied` word.
    @inline(__always)
    static func occupiedBit(slot: Int) -> UInt64 { 1 << UInt64(slot) }

    private func listFor(tick: UInt64) -> Int {
        if tick <= elapsed { return Self.dueList }
        let level = Self.level(of: tick, elapsed: elapsed)
        return Self.listIndex(level: level, slot: Self.slot(of: tick, level: level))
    }

    /// The first occupied slot of the lowest occupied level and the tick at
    /// which it starts.
    private func nextSlot() -> (level: Int, slot: Int, start: UInt64)? {
        for level in 0..<Self.levelCount {
            let bits = occupied[level]
            if bits == 0 { continue }
            // Every occupied slot is ahead of `elapsed`'s: no wrap-around.
            let slot = bits.trailingZeroBitCount
            assert(slot > Self.slot(of: elapsed, level: level), "timer wheel slot behind the clock")
            return (level, slot, Self.start(ofSlot: slot, level: level, elapsed: elapsed))
        }
        return nil
    }

    /// The earliest deadline of the list starting at `head`, or nil if the
    /// list is empty or longer than `limit`.
    private func earliestDeadline(from head: Int32, limit: Int) -> UInt64? {
        var id = head, earliest = UInt64.max, seen = 0
        if id == Self.none { return nil }
        while id != Self.none {
            if seen == limit { return nil }
            seen += 1
            earliest = min(earliest, deadlines[Int(id)])
            id = next[Int(id)]
        }
        return earliest
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
            occupied[index / Self.slotsPerLevel] |= Self.occupiedBit(slot: index % Self.slotsPerLevel)
        }
    }

    private func unlink(_ id: Int32) {
        let index = Int(list[Int(id)])
        let after = next[Int(id)], before = previous[Int(id)]
        if before != Self.none { next[Int(before)] = after } else { heads[index] = after }
        if after != Self.none { previous[Int(after)] = before }
        list[Int(id)] = Self.none
        if heads[index] == Self.none && index != Self.dueList {
            occupied[index / Self.slotsPerLevel] &= ~Self.occupiedBit(slot: index % Self.slotsPerLevel)
        }
    }

    /// Empties a slot's list, handing each id (already unlinked, still
    /// counted as pending) to `body`.
    private func takeList(_ index: Int, _ body: (Int32) -> Void) {
        var id = heads[index]
        if id == Self.none { return }
        heads[index] = Self.none
        occupied[index / Self.slotsPerLevel] &= ~Self.occupiedBit(slot: index % Self.slotsPerLevel)
        while id != Self.none {
            let following = next[Int(id)]
            list[Int(id)] = Self.none
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
