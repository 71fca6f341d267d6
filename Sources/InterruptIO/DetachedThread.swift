import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Starts a pthread running `body`. The library's own threads (the timer
/// driver, the blocking pool) are plain detached threads, never Swift's
/// cooperative ones; the example server, the demo and the tests start
/// joinable ones the same way. Traps when the system refuses a thread; see
/// ``tryStartThread(named:stackSize:_:)`` for the form that reports it.
@discardableResult
package func startThread(
    _ purpose: StaticString, detached: Bool = true, _ body: @escaping @Sendable () -> Void
) -> pthread_t {
    switch tryStartThread(named: nil, stackSize: nil, detached: detached, body) {
    case .success(let thread): return thread
    case .failure(let error):
        preconditionFailure("InterruptIO: cannot start the \(purpose) thread (\(error))")
    }
}

/// Starts a pthread running `body`, named `name` (at most 15 bytes: what
/// `top -H`, `ps -L` and debuggers show), with `stackSize` bytes of stack
/// when given; returns the error `pthread_create` gave instead of trapping.
package func tryStartThread(
    named name: String?, stackSize: Int? = nil, detached: Bool = true,
    _ body: @escaping @Sendable () -> Void
) -> Result<pthread_t, Errno> {
    final class Entry {
        let name: String?
        let body: @Sendable () -> Void
        init(_ name: String?, _ body: @escaping @Sendable () -> Void) { self.name = name; self.body = body }
    }
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    if let stackSize { pthread_attr_setstacksize(&attributes, max(stackSize, Int(PTHREAD_STACK_MIN))) }
    if detached { pthread_attr_setdetachstate(&attributes, CInt(PTHREAD_CREATE_DETACHED)) }
    var thread = pthread_t()
    let entry = Unmanaged.passRetained(Entry(name, body)).toOpaque()
    let created = pthread_create(&thread, &attributes, { raw in
        let entry = Unmanaged<Entry>.fromOpaque(raw!).takeRetainedValue()
        if let name = entry.name { nameCurrentThread(name) }
        entry.body()
        return nil
    }, entry)
    if created != 0 {
        Unmanaged<Entry>.fromOpaque(entry).release()
        return .failure(Errno(rawValue: created))
    }
    return .success(thread)
}

/// Names the calling thread (`/proc/thread-self/comm`, what
/// `pthread_setname_np` writes; at most 15 bytes are kept).
private func nameCurrentThread(_ name: String) {
    let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
    if fd < 0 { return }
    defer { close(fd) }
    var bytes = Array(name.utf8.prefix(15))
    _ = write(fd, &bytes, bytes.count)
}
