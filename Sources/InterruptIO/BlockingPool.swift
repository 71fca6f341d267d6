import CInterruptIO
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The threads the async API runs blocking calls on: owned by the library,
/// never Swift's cooperative pool (blocking a cooperative thread starves
/// every task).
///
/// **Growth.** A call never waits behind an unrelated blocked call: when
/// every pool thread is busy, the pool makes another, up to
/// ``maximumThreads``. A thread idle for ``idleTimeout`` retires. Threads are
/// named `iio-pool` (`top -H`, `ps -L`, debuggers) and have
/// ``threadStackSize`` bytes of stack.
///
/// **At the limit** (or when the system refuses a thread) a call waits in a
/// first-come-first-served queue, and there it obeys everything it would
/// obey running: cancelling the awaiting Task completes it at once with
/// `CancellationError`, its deadline (the tighter of the call's and the
/// ``InterruptIO/withDeadline(_:isolation:_:)`` scope's) completes it with
/// `Errno.timedOut` at that instant (fired by the library's timer thread).
/// Either way it leaves the queue and never runs.
///
/// **Running**, the call is bounded by the same deadline (it is the pool
/// thread's own deadline while the call runs) and the Task's cancellation
/// gives the thread a sticky cancel, so a helper that loops stops too; the
/// thread's deadline and cancel are cleared before it takes its next call.
///
/// The states of a call (`Job.Phase`), all changed under the pool's lock:
/// `new` (not yet submitted) → `queued` → `running` → `done`; `new` or
/// `queued` → `done` by a cancel or, queued, by its deadline. Whoever moves
/// a call to `done` stores its outcome and resumes the caller if it has
/// suspended; a caller that has not (it spins briefly first, see
/// `perform`) reads the outcome itself. Either way exactly once.
public enum BlockingPool {
    /// The most threads the pool makes. The default is Go's runtime limit,
    /// 10,000 (`debug.SetMaxThreads`), lowered to half the process limit
    /// (`RLIMIT_NPROC`) and a quarter of the system's (`threads-max`) so
    /// that the pool alone cannot exhaust either. A blocked call costs a
    /// thread: 10,000 of them at the default stack reserve 5 GiB of address
    /// space but touch only a few pages each. Raising it makes threads for
    /// calls already waiting; lowering it stops the pool making threads
    /// until enough have retired (threads retire only when idle).
    public static var maximumThreads: Int {
        get { state.withLock { $0.maximum } }
        set {
            state.withLock { $0.maximum = max(1, newValue) }
            serveBacklog()
        }
    }

    /// How long a thread waits for work before it retires (default 10 s).
    public static var idleTimeout: Duration {
        get { state.withLock { $0.idleTimeout } }
        set { state.withLock { $0.idleTimeout = max(newValue, .milliseconds(1)) } }
    }

    /// The stack size of threads made from now on (default 512 KiB). The
    /// pool's own work (a system call through the C layer and, on a signal,
    /// the library's handler) needs a few KiB; the rest is headroom for
    /// operations given to ``run(deadline:_:)`` and for application signal
    /// handlers that run on the thread. Raise it for deep operations.
    public static var threadStackSize: Int {
        get { state.withLock { $0.stackSize } }
        set { state.withLock { $0.stackSize = max(newValue, 64 * 1024) } }
    }

    /// Threads the pool has now (busy and idle).
    public static var threadCount: Int { state.withLock { $0.threads } }

    /// Calls waiting for a thread now.
    public static var queuedCount: Int { state.withLock { $0.waiting } }

    /// Runs a synchronous operation on a pool thread and returns its result:
    /// the bridge every async form of the library is built on, open to any
    /// operation made of the library's interruptible calls.
    ///
    /// - `deadline`, combined with the ``InterruptIO/withDeadline(_:isolation:_:)``
    ///   scope's, bounds the wait for a thread and, as the pool thread's own
    ///   deadline, every interruptible call `operation` makes.
    /// - Cancelling the awaiting Task: queued, the call completes at once
    ///   with `CancellationError` without running; running, the thread's
    ///   calls fail with `Errno.canceled`, which this method turns into
    ///   `CancellationError`. Any other error `operation` throws (including
    ///   an ``IncompleteTransfer`` that carries a count) is thrown as is,
    ///   and a result `operation` returns is returned even when the Task was
    ///   cancelled meanwhile (nothing moved is lost).
    /// - A deadline that passes while the call is queued: `Errno.timedOut`.
    public static func run<R: Sendable, Failure: Error>(
        deadline: Deadline = .never, _ operation: @escaping @Sendable () throws(Failure) -> R
    ) async throws -> R {
        try await onPool(deadline, operation)
    }

    // MARK: The pool's state

    struct State {
        /// Submitted calls in order; entries already `done` (cancelled or
        /// expired while waiting) are skipped by the thread that meets them.
        var queue: [Job] = []
        var head = 0
        /// Calls in `queue` that are still `queued`.
        var waiting = 0
        var threads = 0
        /// Threads made that have not yet looked at the queue: each will
        /// take a call without being signalled.
        var starting = 0
        /// Threads waiting for work (counted from when a thread finds the
        /// queue empty until it takes a call or retires).
        var idle = 0
        /// When the timer thread tries again to make threads after the
        /// system refused one (nil: no retry pending).
        var spawnRetryAt: UInt64?
        var maximum = BlockingPool.defaultMaximumThreads()
        var idleTimeout = Duration.seconds(10)
        var stackSize = 512 * 1024
        /// Queued calls with a deadline, by timer slot: the timer thread
        /// fires slots (``expireQueued(slot:now:)``).
        var timerSlots: [Job?] = []
        var freeTimerSlots: [Int] = []
        /// Slots filed since the timer thread last looked.
        var timerRequests: [(slot: Int, instant: UInt64)] = []

        /// Waiting calls that no thread is headed for.
        var backlog: Int { waiting - idle - starting }

        /// Counts `count` new threads in; they take calls from the backlog.
        mutating func threadsToMake(for backlog: Int) -> Int {
            let count = max(0, min(backlog, maximum - threads))
            threads += count
            starting += count
            return count
        }

        /// Files a timer for every waiting call with a deadline that has
        /// none (when some calls may wait for a thread); true if any.
        mutating func fileTimersForWaitingCalls() -> Bool {
            var filed = false
            for job in queue[head...] where job.timerSlot < 0 && job.deadline != .never {
                if case .queued = job.phase {
                    fileTimer(for: job)
                    filed = true
                }
            }
            return filed
        }

        mutating func pushJob(_ job: Job) {
            queue.append(job)
            waiting += 1
        }

        /// The first call still queued (left in the queue), or nil; entries
        /// already done are dropped on the way.
        mutating func firstQueued() -> Job? {
            while head < queue.count {
                if case .queued = queue[head].phase { return queue[head] }
                dropFirst()
            }
            return nil
        }

        /// Takes the first call out of line (after ``firstQueued()``).
        mutating func takeFirst() -> Job {
            let job = queue[head]
            dropFirst()
            leaveQueue(job)
            return job
        }

        private mutating func dropFirst() {
            head += 1
            if head > 64 && head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
        }

        mutating func fileTimer(for job: Job) {
            let slot = freeTimerSlots.popLast() ?? { timerSlots.append(nil); return timerSlots.count - 1 }()
            timerSlots[slot] = job
            job.timerSlot = slot
            timerRequests.append((slot, job.deadline.uptimeNanoseconds))
        }

        /// The call leaves the queue: its slot is free (a firing for it that
        /// is already on its way finds the slot empty or reused and looks at
        /// whichever call holds it now).
        mutating func leaveQueue(_ job: Job) {
            waiting -= 1
            if job.timerSlot >= 0 {
                timerSlots[job.timerSlot] = nil
                freeTimerSlots.append(job.timerSlot)
                job.timerSlot = -1
            }
        }
    }

    static let state: PThreadMutex<State> = {
        pthread_atfork({ BlockingPool.state.lockForFork() },
                       { BlockingPool.state.unlockAfterFork() },
                       { BlockingPool.resetInForkChild() })
        return PThreadMutex(State())
    }()

    /// The fork child has none of the pool's threads and none of the
    /// parent's awaiting Tasks (Swift concurrency does not survive fork):
    /// the pool starts empty there, with the parent's settings, so the
    /// timer thread the C layer restarts in the child never waits on a lock
    /// a vanished thread held.
    private static func resetInForkChild() {
        state.reinitializeInChild { s in
            let fresh = State(maximum: s.maximum, idleTimeout: s.idleTimeout, stackSize: s.stackSize)
            s = fresh
        }
        initializeMonotonicCondition(wakeup)
        spinToken.store(false, ordering: .relaxed)
    }
    /// Signalled (under `state`'s lock) when a call is queued.
    nonisolated(unsafe) static let wakeup: UnsafeMutablePointer<pthread_cond_t> = {
        let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        initializeMonotonicCondition(condition)
        return condition
    }()

    private static func initializeMonotonicCondition(_ condition: UnsafeMutablePointer<pthread_cond_t>) {
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    /// How a call left the pool.
    enum Outcome {
        /// It ran; `cancelled`: the Task was cancelled meanwhile.
        case ran(cancelled: Bool)
        /// It never ran: cancelled, or its deadline passed, while queued.
        case notRun(Errno)
    }

    /// One call and the awaiting Task's view of it. Every field is guarded
    /// by the pool's lock.
    final class Job: @unchecked Sendable {
        enum Phase { case new, queued, running(InterruptibleThread), done }
        var phase = Phase.new
        var taskCancelled = false
        let deadline: Deadline
        var body: (() -> Void)?
        var continuation: UnsafeContinuation<Outcome, Never>?
        var timerSlot = -1
        /// How it left the pool, once `done`.
        var outcome: Outcome?
        /// Set once `done` (after `outcome`): the caller may watch it
        /// without the lock while it spins.
        let finished = Atomic<Bool>(false)
        /// A canceller is sending this running call's thread a sticky
        /// cancel (announced under the lock, cleared when sent).
        let cancelSending = Atomic<Bool>(false)

        init(deadline: Deadline, body: @escaping () -> Void) {
            self.deadline = deadline
            self.body = body
        }

        /// Moves the call to `done` with `outcome`; returns the continuation
        /// to resume with it, or nil while the caller has registered none
        /// (it then finds the outcome itself).
        func finish(_ outcome: Outcome) -> UnsafeContinuation<Outcome, Never>? {
            phase = .done
            body = nil
            self.outcome = outcome
            finished.store(true, ordering: .releasing)
            defer { continuation = nil }
            return continuation
        }
    }

    /// How long a caller watches for its call to finish before it
    /// suspends, when an idle thread was awake to take the call: a call
    /// that completes at once (data already there) then costs no wake-up
    /// of a sleeping thread on either side.
    static let callerSpinNanoseconds: UInt64 = 20_000

    /// Submits `job` and waits until it ran or left the queue.
    static func perform(_ job: Job) async -> Outcome {
        if submit(job) {
            let end = iio_now_ns() &+ callerSpinNanoseconds
            while !job.finished.load(ordering: .acquiring) && iio_now_ns() < end {}
            if job.finished.load(ordering: .acquiring) { return state.withLock { _ in job.outcome! } }
        }
        // A cancel from here on reaches the call wherever it is; one that
        // came during the spin runs the handler at once.
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { continuation in
                let outcome = state.withLock { _ -> Outcome? in
                    if case .done = job.phase { return job.outcome }
                    job.continuation = continuation
                    return nil
                }
                if let outcome { continuation.resume(returning: outcome) }
            }
        } onCancel: {
            cancel(job)
        }
    }

    /// Queues `job` and makes a thread for it if none is free; true when a
    /// thread is awake (spinning, or finishing a call) to take it at once.
    private static func submit(_ job: Job) -> Bool {
        var spawn = 0
        var stackSize = 0
        var wakeTimer = false
        state.withLock { s in
            job.phase = .queued
            s.pushJob(job)
            submissions.wrappingAdd(1, ordering: .releasing)
            if s.idle > 0 { pthread_cond_signal(wakeup) }
            // Every waiting call needs a thread of its own: a call that
            // blocks must never hold up one queued behind it.
            spawn = s.threadsToMake(for: s.backlog)
            stackSize = s.stackSize
            // Threads serve the queue in order, so a call left over is the
            // newest: this one. It waits with its deadline on the timer.
            if s.backlog > 0 && job.deadline != .never {
                s.fileTimer(for: job)
                wakeTimer = true
            }
        }
        spawnWorkers(spawn, stackSize: stackSize)
        if wakeTimer { wakeTimerThread() }
        return spinToken.load(ordering: .relaxed)
    }

    /// Makes threads for calls waiting with no thread headed for them (after
    /// the limit was raised, or on the timer thread's retry after the
    /// system refused a thread).
    static func serveBacklog() {
        var spawn = 0, stackSize = 0, wakeTimer = false
        state.withLock { s in
            s.spawnRetryAt = nil
            spawn = s.threadsToMake(for: s.backlog)
            stackSize = s.stackSize
            if s.backlog > 0 { wakeTimer = s.fileTimersForWaitingCalls() }
        }
        spawnWorkers(spawn, stackSize: stackSize)
        if wakeTimer { wakeTimerThread() }
    }

    /// How long after a refused thread the timer thread tries again.
    static let spawnRetryNanoseconds: UInt64 = 10_000_000

    /// Starts `count` threads already counted in (`threadsToMake`); stops
    /// at the first the system refuses and hands the rest back.
    private static func spawnWorkers(_ count: Int, stackSize: Int) {
        guard count > 0 else { return }
        // The timer thread first: queued calls' deadlines and the retry
        // below need it, and when threads run short it could not be made.
        TimerDriver.ensureRunning()
        for made in 0..<count {
            let started = tryStartThread(named: "iio-pool", stackSize: stackSize) { BlockingPool.work() }
            if case .failure = started {
                threadsLost(count - made)
                return
            }
        }
    }

    /// `count` threads counted in will never take a call (the system
    /// refused them, or one could not register): the calls wait as at the
    /// pool's limit, with their cancellation and deadlines honoured, and
    /// the timer thread tries again shortly.
    private static func threadsLost(_ count: Int) {
        state.withLock { s in
            s.threads -= count
            s.starting -= count
            _ = s.fileTimersForWaitingCalls()
            if s.spawnRetryAt == nil { s.spawnRetryAt = iio_now_ns() &+ spawnRetryNanoseconds }
        }
        wakeTimerThread()
    }

    /// The timer thread's pool chores at `now`: retries a refused thread
    /// when due. Returns when to look again (`UInt64.max`: not needed).
    static func timerChores(now: UInt64) -> UInt64 {
        let due = state.withLock { s -> Bool? in
            guard let at = s.spawnRetryAt else { return nil }
            return at <= now
        }
        switch due {
        case nil: return UInt64.max
        case false?: return state.withLock { $0.spawnRetryAt ?? UInt64.max }
        case true?:
            serveBacklog()
            return state.withLock { $0.spawnRetryAt ?? UInt64.max }
        }
    }

    private static func wakeTimerThread() {
        TimerDriver.ensureRunning()
        iio_timer_wake()
    }

    /// The Task was cancelled (from its cancellation handler, any thread).
    private static func cancel(_ job: Job) {
        enum Action { case none, resume(UnsafeContinuation<Outcome, Never>), interrupt(InterruptibleThread) }
        let action = state.withLock { s -> Action in
            job.taskCancelled = true
            switch job.phase {
            case .new, .done:
                return .none // not submitted yet, or finished already
            case .queued:
                s.leaveQueue(job)
                return job.finish(.notRun(.canceled)).map(Action.resume) ?? .none
            case .running(let thread):
                // Announced under the lock: the worker, once it has
                // finished this call, waits for the send to complete before
                // it clears the thread's cancel and takes another call, so
                // the sticky cancel lands on this call only. The signal is
                // sent outside the lock (thousands of cancels at once would
                // otherwise hold it against the threads they wake).
                job.cancelSending.store(true, ordering: .relaxed)
                return .interrupt(thread)
            }
        }
        switch action {
        case .none: break
        case .resume(let continuation): continuation.resume(returning: .notRun(.canceled))
        case .interrupt(let thread):
            _ = try? thread.cancelSticky()
            job.cancelSending.store(false, ordering: .releasing)
        }
    }

    /// The timer thread's look at a slot whose instant came; returns when
    /// to look again (`UInt64.max`: not until filed again).
    static func expireQueued(slot: Int, now: UInt64) -> UInt64 {
        var instant = UInt64.max
        let continuation = state.withLock { s -> UnsafeContinuation<Outcome, Never>? in
            guard slot < s.timerSlots.count, let job = s.timerSlots[slot], case .queued = job.phase else { return nil }
            if job.deadline.uptimeNanoseconds > now {
                instant = job.deadline.uptimeNanoseconds
                return nil
            }
            s.leaveQueue(job)
            return job.finish(.notRun(.timedOut))
        }
        continuation?.resume(returning: .notRun(.timedOut))
        return instant
    }

    /// The slots filed since the timer thread last asked, with their instants.
    static func takeTimerRequests(into requests: inout [(slot: Int, instant: UInt64)]) {
        state.withLock { s in
            swap(&requests, &s.timerRequests)
            s.timerRequests.removeAll(keepingCapacity: true)
        }
    }

    // MARK: The threads

    /// Bumped on every submission: a spinning idle thread watches it.
    static let submissions = Atomic<Int>(0)
    /// Held by the one thread that may spin for the next call (Go's runtime
    /// limits its spinning threads the same way); the others sleep at once.
    /// A thread claims it as it finishes a call, before the caller resumes,
    /// so a caller that submits its next call at once sees a thread awake.
    static let spinToken = Atomic<Bool>(false)

    static func claimSpinToken() -> Bool {
        spinToken.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged
    }
    /// How long an idle thread watches for the next call before it sleeps:
    /// a caller that submits calls one after another (a loop of async reads)
    /// finds a thread awake instead of paying a futex wake-up per call.
    static let spinNanoseconds: UInt64 = 50_000

    private enum Step { case job(Job), retire, spin(seen: Int), expired([UnsafeContinuation<Outcome, Never>]) }

    /// The next call for this thread, or nil when it stayed idle for
    /// ``idleTimeout`` (it has then left the count: the thread must exit).
    /// `holdsSpinToken`: this thread holds ``spinToken``; released here.
    private static func take(_ me: InterruptibleThread, starting: inout Bool, holdsSpinToken: inout Bool) -> Job? {
        defer {
            if holdsSpinToken {
                spinToken.store(false, ordering: .relaxed)
                holdsSpinToken = false
            }
        }
        var idleUntil: UInt64? = nil
        var counted = !starting
        starting = false
        while true {
            let step = state.waitUntil(wakeup, until: { idleUntil }) { s -> Step? in
                if !counted {
                    s.starting -= 1
                    counted = true
                }
                let now = iio_now_ns()
                var expired: [UnsafeContinuation<Outcome, Never>] = []
                while let job = s.firstQueued() {
                    // Its deadline passed while it waited (the timer thread
                    // may be a moment late): it never runs. Its caller is
                    // resumed outside the lock.
                    if job.deadline.uptimeNanoseconds <= now {
                        _ = s.takeFirst()
                        if let continuation = job.finish(.notRun(.timedOut)) { expired.append(continuation) }
                        if expired.count >= 64 { return .expired(expired) }
                        continue
                    }
                    if !expired.isEmpty { return .expired(expired) }
                    _ = s.takeFirst()
                    if idleUntil != nil { s.idle -= 1 }
                    // Whatever an earlier call left on this thread (a sticky
                    // cancel, through its own handle) is not this call's.
                    // Under the lock: a cancel for this call lands only once
                    // it runs.
                    try? me.clearCancel()
                    job.phase = .running(me)
                    return .job(job)
                }
                if !expired.isEmpty { return .expired(expired) }
                if let until = idleUntil {
                    if now < until { return nil }
                    s.idle -= 1
                    s.threads -= 1
                    return .retire
                }
                // Idle from here: submit counts this thread as free.
                s.idle += 1
                idleUntil = now &+ UInt64(max(0, Deadline.saturatingNanoseconds(s.idleTimeout, rounding: .up)))
                return .spin(seen: submissions.load(ordering: .acquiring))
            }
            switch step {
            case .job(let job): return job
            case .retire: return nil
            case .expired(let continuations):
                for continuation in continuations { continuation.resume(returning: .notRun(.timedOut)) }
            case .spin(let seen):
                if holdsSpinToken || claimSpinToken() {
                    holdsSpinToken = true
                    let end = iio_now_ns() &+ spinNanoseconds
                    while submissions.load(ordering: .acquiring) == seen && iio_now_ns() < end {}
                    spinToken.store(false, ordering: .relaxed)
                    holdsSpinToken = false
                }
            }
        }
    }

    private static func work() {
        guard let me = try? InterruptibleThread.current() else {
            // Without a record the thread can run nothing interruptibly.
            threadsLost(1)
            return
        }
        var starting = true
        var holdsSpinToken = false
        while let job = take(me, starting: &starting, holdsSpinToken: &holdsSpinToken) {
            // Running, the call is finished only by this thread: its body
            // is read without the lock. The timer thread runs already (made
            // before the pool's first thread).
            let body = job.body
            // The call's deadline is the thread's while it runs (whatever
            // an earlier call set is replaced).
            iio_deadline_set(job.deadline.uptimeNanoseconds)
            body?()
            holdsSpinToken = claimSpinToken()
            let (continuation, outcome) = state.withLock { _ in
                let outcome = Outcome.ran(cancelled: job.taskCancelled)
                return (job.finish(outcome), outcome)
            }
            continuation?.resume(returning: outcome)
            // A cancel announced before `done` must land before the thread's
            // cancel is cleared for its next call.
            while job.cancelSending.load(ordering: .acquiring) { sched_yield() }
        }
    }

    /// Go's limit lowered to what this process and system allow.
    static func defaultMaximumThreads() -> Int {
        var limit = 10_000
        var processLimit = rlimit()
        if getrlimit(__rlimit_resource_t(__RLIMIT_NPROC.rawValue), &processLimit) == 0 && processLimit.rlim_cur != rlim_t.max {
            limit = min(limit, Int(clamping: processLimit.rlim_cur / 2))
        }
        if let text = try? String(contentsOfProcFile: "/proc/sys/kernel/threads-max"),
           let systemLimit = Int(String(text.prefix { $0.isNumber })) {
            limit = min(limit, systemLimit / 4)
        }
        return max(limit, 16)
    }
}

/// Runs `operation` on the pool under `deadline` (and the task's); the
/// wrappers' bridge. `operation` may capture buffers that are not Sendable:
/// the caller awaits its completion, or its removal from the queue without
/// running, before it returns, so nothing it captured is used afterwards.
/// `notRun` makes the error for a call that never ran (the looping helpers
/// report it with a count of 0).
func onPool<R, Failure: Error>(
    _ deadline: Deadline, notRun: (Errno) -> any Error = { $0 == .canceled ? CancellationError() : $0 },
    _ operation: @escaping () throws(Failure) -> R
) async throws -> R {
    let effective = min(deadline, InterruptIO.taskDeadline)
    if Task.isCancelled { throw notRun(.canceled) }
    let result = UncheckedSendable(value: ResultBox<R>())
    let job = BlockingPool.Job(deadline: effective) { [operation] in
        do throws(Failure) { result.value.value = .success(try operation()) } catch { result.value.value = .failure(error) }
    }
    switch await BlockingPool.perform(job) {
    case .notRun(let errno):
        throw notRun(errno)
    case .ran(let cancelled):
        switch result.value.value! {
        case .success(let value): return value
        case .failure(let error):
            if cancelled, let errno = error as? Errno, errno == .canceled { throw CancellationError() }
            throw error
        }
    }
}

/// Where a pool call leaves its result for the awaiting Task.
final class ResultBox<R> {
    var value: Result<R, any Error>?
}

/// Lets a value cross to the pool thread: the caller awaits the call's
/// completion (even when cancelled), so the value outlives its use.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
}

extension String {
    /// Reads a small /proc file (its size is not known in advance).
    init(contentsOfProcFile path: String) throws(Errno) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw Errno(rawValue: errno) }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 256)
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { throw Errno(rawValue: errno) }
        self = String(decoding: bytes[..<n], as: UTF8.self)
    }
}
