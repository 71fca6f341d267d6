import CInterruptIO
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The threads the async API runs blocking calls on: owned by the library,
/// never Swift's cooperative pool (blocking a cooperative thread starves
/// every task). Threads are made on demand up to ``maximumThreads`` and then
/// kept; calls beyond that wait in a queue, first come first served.
///
/// A call's Task being cancelled interrupts it wherever it is: still queued,
/// it completes with `Errno.canceled` without running; running, its thread
/// gets a sticky cancel (so a helper that loops stops too), cleared before
/// the thread takes its next call.
public enum BlockingPool {
    /// The most threads the pool makes (default 64; set before first use).
    public static var maximumThreads: Int {
        get { state.withLock { $0.maximum } }
        set { state.withLock { $0.maximum = max(1, newValue) } }
    }

    struct State {
        var queue: [Job] = []
        var head = 0
        var threads = 0
        var idle = 0
        var maximum = 64
    }

    static let state = PThreadMutex(State())
    /// Signalled (under `state`'s lock) when a call is queued.
    nonisolated(unsafe) static let wakeup: UnsafeMutablePointer<pthread_cond_t> = {
        let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        pthread_cond_init(condition, nil)
        return condition
    }()

    /// One blocking call and the awaiting Task's view of it.
    final class Job: @unchecked Sendable {
        enum Phase { case queued, running(InterruptibleThread), finished }
        let body: @Sendable () -> Int
        let phase = PThreadMutex<(phase: Phase, cancelled: Bool)>((.queued, false))
        var continuation: CheckedContinuation<Int, Never>?

        init(_ body: @escaping @Sendable () -> Int) { self.body = body }

        /// Called from the Task's cancellation handler, on any thread.
        func cancel() {
            phase.withLock { state in
                state.cancelled = true
                // Under the job's lock the worker cannot finish this job and
                // start another, so the sticky cancel lands on this job only.
                if case .running(let thread) = state.phase { _ = try? thread.cancelSticky() }
            }
        }
    }

    /// Runs `body` on a pool thread and returns its result; cancelling the
    /// awaiting Task interrupts it.
    static func run(_ body: @escaping @Sendable () -> Int) async -> Int {
        let job = Job(body)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                job.continuation = continuation
                submit(job)
            }
        } onCancel: {
            job.cancel()
        }
    }

    private static func submit(_ job: Job) {
        let needsThread = state.withLock { s -> Bool in
            s.queue.append(job)
            pthread_cond_signal(wakeup)
            // Every waiting call needs a thread of its own: a call that
            // blocks must never hold up one queued behind it.
            if s.queue.count - s.head > s.idle && s.threads < s.maximum {
                s.threads += 1
                return true
            }
            return false
        }
        if needsThread { spawnWorker() }
    }

    private static func spawnWorker() {
        startThread("blocking pool") { BlockingPool.work() }
    }

    /// A worker counts as idle from when it finds the queue empty until it
    /// takes a call, so that submit can tell whether a thread is free.
    private static func take() -> Job {
        var counted = false
        return state.waitUntil(wakeup) { s -> Job? in
            guard s.head < s.queue.count else {
                if !counted { s.idle += 1; counted = true }
                return nil
            }
            if counted { s.idle -= 1 }
            let job = s.queue[s.head]
            s.head += 1
            if s.head > 64 && s.head * 2 > s.queue.count {
                s.queue.removeFirst(s.head)
                s.head = 0
            }
            return job
        }
    }

    private static func work() -> Never {
        guard let me = try? InterruptibleThread.current() else {
            fatalError("InterruptIO: a pool thread cannot be registered")
        }
        while true {
            let job = take()
            let cancelledBeforeStart = job.phase.withLock { state -> Bool in
                if state.cancelled { return true }
                state.phase = .running(me)
                return false
            }
            let result = cancelledBeforeStart ? -Int(ECANCELED) : job.body()
            job.phase.withLock { state in
                state.phase = .finished
                if state.cancelled { try? me.clearCancel() }
            }
            job.continuation?.resume(returning: result)
        }
    }
}
