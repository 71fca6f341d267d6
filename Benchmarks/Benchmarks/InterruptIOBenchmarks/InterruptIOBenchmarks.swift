import Benchmark
import CInterruptIO
import HeapModule
import InterruptIO
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif
import Dispatch

/// A socketpair with a deep buffer, topped up outside the measured region.
final class Stream: @unchecked Sendable {
    let reader: FileDescriptor
    let writer: FileDescriptor
    init() {
        var fds: [CInt] = [0, 0]
        _ = socketpair(AF_UNIX, CInt(SOCK_STREAM.rawValue), 0, &fds)
        var big: CInt = 4 << 20
        _ = setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &big, socklen_t(MemoryLayout<CInt>.size))
        _ = setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &big, socklen_t(MemoryLayout<CInt>.size))
        _ = fcntl(fds[1], F_SETFL, O_NONBLOCK)
        reader = FileDescriptor(rawValue: fds[0])
        writer = FileDescriptor(rawValue: fds[1])
    }
    func topUp(_ count: Int) {
        var queued: CInt = 0
        _ = ioctl(reader.rawValue, UInt(FIONREAD), &queued)
        let zeros = [UInt8](repeating: 0, count: 65536)
        while Int(queued) < count {
            let n = zeros.withUnsafeBytes { Glibc.write(writer.rawValue, $0.baseAddress, min($0.count, count - Int(queued))) }
            if n <= 0 { break }
            queued += CInt(n)
        }
    }
    func drain() {
        _ = fcntl(reader.rawValue, F_SETFL, O_NONBLOCK)
        var sink = [UInt8](repeating: 0, count: 65536)
        while sink.withUnsafeMutableBytes({ Glibc.read(reader.rawValue, $0.baseAddress, $0.count) }) > 0 {}
        _ = fcntl(reader.rawValue, F_SETFL, 0)
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .throughput],
        warmupIterations: 1_000,
        maxDuration: .seconds(2),
        maxIterations: 200_000
    )
    let stream = Stream()
    var one = [UInt8](repeating: 0, count: 1)

    // MARK: 1-byte reads and writes

    Benchmark("read 1 byte: read(2)") { benchmark in
        stream.topUp(benchmark.scaledIterations.count)
        one.withUnsafeMutableBytes { b in
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(Glibc.read(stream.reader.rawValue, b.baseAddress, 1)) }
        }
    }
    Benchmark("read 1 byte: FileDescriptor.read(deadline: .never)") { benchmark in
        stream.topUp(benchmark.scaledIterations.count)
        one.withUnsafeMutableBytes { b in
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(try? stream.reader.read(into: b, deadline: .never)) }
        }
    }
    Benchmark("read 1 byte: FileDescriptor.read(deadline: now + 10 s)") { benchmark in
        stream.topUp(benchmark.scaledIterations.count)
        let deadline = Deadline.after(.seconds(10))
        one.withUnsafeMutableBytes { b in
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(try? stream.reader.read(into: b, deadline: deadline)) }
        }
    }
    Benchmark("write 1 byte: write(2)") { benchmark in
        stream.drain()
        one.withUnsafeBytes { b in
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(Glibc.write(stream.writer.rawValue, b.baseAddress, 1)) }
        }
        benchmark.stopMeasurement()
        stream.drain()
    }
    Benchmark("write 1 byte: FileDescriptor.write(deadline: now + 10 s)") { benchmark in
        stream.drain()
        let deadline = Deadline.after(.seconds(10))
        one.withUnsafeBytes { b in
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(try? stream.writer.write(b, deadline: deadline)) }
        }
        benchmark.stopMeasurement()
        stream.drain()
    }

    // MARK: Timers: arm + cancel with N pending

    // The wheels and heaps are filled once, outside the measured closures:
    // the benchmarks measure one arm + cancel against N pending timers.
    for pending in [10, 1_000, 100_000, 1_000_000] {
        let base = iio_now_ns()
        let wheel = TimerWheel(now: base, capacity: pending + 1)
        var heap = Heap<UInt64>()
        var rng = UInt64(12345)
        for id in 0..<pending {
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            wheel.schedule(id, at: base + 1_000_000 + (rng >> 34))
            heap.insert(base + 1_000_000 + (rng >> 34))
        }
        let heapBox = HeapBox(heap)
        Benchmark("wheel arm+cancel, \(pending) pending", configuration: .init(metrics: [.wallClock, .mallocCountTotal], scalingFactor: .kilo)) { benchmark in
            let probe = pending
            for i in benchmark.scaledIterations {
                wheel.schedule(probe, at: base + 5_000_000 + UInt64(i & 1023) * 997)
                wheel.cancel(probe)
            }
        }
        Benchmark("Heap insert+remove, \(pending) pending", configuration: .init(metrics: [.wallClock, .mallocCountTotal], scalingFactor: .kilo)) { benchmark in
            // A heap cannot remove an arbitrary element: the cheapest honest
            // cancel is of the timer that fires first (insert, then popMin).
            for i in benchmark.scaledIterations {
                heapBox.heap.insert(base + UInt64(i & 1023))
                blackHole(heapBox.heap.popMin())
            }
        }
    }

    Benchmark("DispatchSourceTimer create+cancel per operation", configuration: .init(metrics: [.wallClock, .mallocCountTotal])) { benchmark in
        let queue = DispatchQueue(label: "timers")
        for _ in benchmark.scaledIterations {
            let timer = DispatchSource.makeTimerSource(queue: queue)
            timer.schedule(deadline: .now() + .seconds(10))
            timer.setEventHandler {}
            timer.resume()
            timer.cancel()
        }
    }

    // MARK: Cancel round trip

    Benchmark("cancel -> blocked read returns (round trip)", configuration: .init(metrics: [.wallClock], maxIterations: 2_000)) { benchmark in
        let fds = try FileDescriptor.pipe()
        defer { try? fds.readEnd.close(); try? fds.writeEnd.close() }
        for _ in benchmark.scaledIterations {
            let handle = ThreadBox()
            let thread = spawnReader(fds.readEnd, handle)
            while handle.thread == nil { sched_yield() }
            usleep(100)
            benchmark.startMeasurement()
            while !(handle.done) { _ = try? handle.thread!.cancel() ; if handle.done { break } }
            benchmark.stopMeasurement()
            pthread_join(thread, nil)
        }
    }
}

final class HeapBox: @unchecked Sendable {
    var heap: Heap<UInt64>
    init(_ heap: Heap<UInt64>) { self.heap = heap }
}

final class ThreadBox: @unchecked Sendable {
    private let lock = NSLockish()
    private var _thread: InterruptibleThread?
    private var _done = false
    var thread: InterruptibleThread? { lock.with { _thread } }
    var done: Bool { lock.with { _done } }
    func set(_ t: InterruptibleThread) { lock.with { _thread = t } }
    func finish() { lock.with { _done = true } }
}

final class NSLockish: @unchecked Sendable {
    private var m = pthread_mutex_t()
    init() { pthread_mutex_init(&m, nil) }
    func with<T>(_ body: () -> T) -> T { pthread_mutex_lock(&m); defer { pthread_mutex_unlock(&m) }; return body() }
}

final class ReaderArgs {
    let fd: FileDescriptor
    let box: ThreadBox
    init(_ fd: FileDescriptor, _ box: ThreadBox) { self.fd = fd; self.box = box }
}

func spawnReader(_ fd: FileDescriptor, _ box: ThreadBox) -> pthread_t {
    var thread = pthread_t()
    let args = Unmanaged.passRetained(ReaderArgs(fd, box)).toOpaque()
    pthread_create(&thread, nil, { raw in
        let args = Unmanaged<ReaderArgs>.fromOpaque(raw!).takeRetainedValue()
        if let me = try? InterruptibleThread.current() { args.box.set(me) }
        var b = [UInt8](repeating: 0, count: 1)
        _ = b.withUnsafeMutableBytes { try? args.fd.read(into: $0, deadline: .never) }
        args.box.finish()
        return nil
    }, args)
    return thread
}
