#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Starts a detached pthread running `body`: the library's own threads (the
/// timer driver, the blocking pool) are plain threads, never Swift's
/// cooperative ones, and nobody joins them.
func startDetachedThread(_ purpose: StaticString, _ body: @escaping @Sendable () -> Void) {
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
    pthread_detach(thread)
}
