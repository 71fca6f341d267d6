#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Starts a pthread running `body`. The library's own threads (the timer
/// driver, the blocking pool) are plain detached threads, never Swift's
/// cooperative ones; the example server, the demo and the tests start
/// joinable ones the same way.
@discardableResult
package func startThread(
    _ purpose: StaticString, detached: Bool = true, _ body: @escaping @Sendable () -> Void
) -> pthread_t {
    final class Entry {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var thread = pthread_t()
    let entry = Unmanaged.passRetained(Entry(body)).toOpaque()
    let created = pthread_create(&thread, nil, { raw in
        Unmanaged<Entry>.fromOpaque(raw!).takeRetainedValue().body()
        return nil
    }, entry)
    precondition(created == 0, "InterruptIO: cannot start the \(purpose) thread (\(created))")
    if detached { pthread_detach(thread) }
    return thread
}
