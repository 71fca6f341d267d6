// Side-by-side comparison of deadline-bounded reads, in one run, interleaved
// and repeated so that ratios hold on a noisy machine.
//   swift run -c release interruptio-compare [--quick] [--json PATH]
import CCompare
import CInterruptIO
import Foundation
import InterruptIO
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
let quick = arguments.contains("--quick")
let jsonPath: String? = arguments.firstIndex(of: "--json").flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil }

precondition(cmp_init() == 0, "set-up failed")
iio_swift_start_timer_driver()
var me = iio_thread_t()
_ = iio_self(&me)

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted.isEmpty ? .nan : sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p + 0.5))]
}

struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
var rng = SplitMix(state: 7)

// MARK: 1-byte reads that complete at once

enum Row: CaseIterable {
    case bare, iio, iioDeadline, iioFreshDeadline, swiftNever, swiftDeadline, descriptor, descriptorPerCall, poll, rcvtimeo, timer, uring
    var title: String {
        switch self {
        case .bare: "read(2)"
        case .iio: "iio_read, no deadline"
        case .iioDeadline: "iio_read + deadline (C)"
        case .iioFreshDeadline: "iio_read + deadline now+1s per call (C)"
        case .swiftNever: "FileDescriptor.read(deadline: .never)"
        case .swiftDeadline: "FileDescriptor.read(deadline:) (Swift)"
        case .descriptor: "DeadlineDescriptor.read, read deadline set"
        case .descriptorPerCall: "setReadDeadline(now+10s) + read, per call"
        case .poll: "ppoll + read"
        case .rcvtimeo: "setsockopt(SO_RCVTIMEO) + read"
        case .timer: "timer_settime arm/disarm + read"
        case .uring: "io_uring read + link timeout"
        }
    }
    var cMethod: Int32? {
        switch self {
        case .bare: Int32(CMP_BARE_READ.rawValue)
        case .iio: Int32(CMP_IIO_READ.rawValue)
        case .iioDeadline: Int32(CMP_IIO_DEADLINE.rawValue)
        case .iioFreshDeadline: Int32(CMP_IIO_FRESH_DEADLINE.rawValue)
        case .poll: Int32(CMP_POLL_READ.rawValue)
        case .rcvtimeo: Int32(CMP_RCVTIMEO_READ.rawValue)
        case .timer: Int32(CMP_TIMER_READ.rawValue)
        case .uring: Int32(CMP_URING_READ.rawValue)
        case .swiftNever, .swiftDeadline, .descriptor, .descriptorPerCall: nil
        }
    }
}

let readFD = FileDescriptor(rawValue: cmp_read_fd())
let batch = quick ? 1_000 : 2_000
let rounds = quick ? 10 : 40
var perRound: [Row: [Double]] = [:]
var ratios: [Row: [Double]] = [:]
var rows = Row.allCases
if cmp_uring_available() == 0 { rows.removeAll { $0 == .uring } }
// Go's net.Conn shape over the same socket (a duplicate of the number).
let descriptor = try! DeadlineDescriptor(readFD.duplicate())
descriptor.setReadDeadline(.after(.seconds(3600)))
func runDescriptor(_ row: Row, _ count: Int) -> UInt64 {
    var byte = [UInt8](repeating: 0, count: 1)
    return byte.withUnsafeMutableBytes { buffer in
        let start = iio_now_ns()
        if row == .descriptor {
            for _ in 0..<count { _ = try? descriptor.read(into: buffer) }
        } else {
            for _ in 0..<count {
                descriptor.setReadDeadline(.after(.seconds(10)))
                _ = try? descriptor.read(into: buffer)
            }
        }
        return iio_now_ns() - start
    }
}
func runSwift(_ row: Row, _ count: Int) -> UInt64 {
    if row == .descriptor || row == .descriptorPerCall { return runDescriptor(row, count) }
    let deadline = row == .swiftNever ? Deadline.never : Deadline.after(.seconds(10))
    var byte = [UInt8](repeating: 0, count: 1)
    return byte.withUnsafeMutableBytes { buffer in
        let start = iio_now_ns()
        for _ in 0..<count { _ = try? readFD.read(into: buffer, deadline: deadline) }
        return iio_now_ns() - start
    }
}

for _ in 0..<rounds {
    var order = rows
    for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
    var thisRound: [Row: Double] = [:]
    for row in order {
        cmp_refill(Int32(batch))
        let ns = row.cMethod.map { cmp_run($0, Int32(batch)) } ?? runSwift(row, batch)
        thisRound[row] = Double(ns) / Double(batch)
    }
    for row in rows {
        perRound[row, default: []].append(thisRound[row]!)
        ratios[row, default: []].append(thisRound[row]! / thisRound[.bare]!)
    }
}

print("1-byte read that completes at once, UNIX socketpair (\(rounds) rounds x \(batch) calls, interleaved)")
print("technique".padding(toLength: 44, withPad: " ", startingAt: 0) + "   ns/call   x read(2)")
var readJSON: [String] = []
for row in rows {
    let ns = percentile(perRound[row]!.sorted(), 0.5)
    let ratio = percentile(ratios[row]!.sorted(), 0.5)
    let title = row.title.padding(toLength: 44, withPad: " ", startingAt: 0)
    print(title + String(format: "%10.0f   %.3f", ns, ratio))
    readJSON.append("{\"technique\":\"\(row.title)\",\"ns\":\(String(format: "%.1f", ns)),\"ratio\":\(String(format: "%.4f", ratio))}")
}

// MARK: Lateness of a read blocked past its deadline

let lateMethods: [(String, Int32)] = [
    ("InterruptIO timer thread", Int32(CMP_LATE_IIO.rawValue)),
    ("timer_create SIGEV_THREAD_ID", Int32(CMP_LATE_TIMER.rawValue)),
    ("io_uring link timeout", Int32(CMP_LATE_URING.rawValue)),
    ("ppoll timeout", Int32(CMP_LATE_POLL.rawValue)),
].filter { $0.1 != Int32(CMP_LATE_URING.rawValue) || cmp_uring_available() != 0 }
let samples = quick ? 100 : 400
var late: [String: [Double]] = [:]
var failures: [String: Int] = [:]
for _ in 0..<samples {
    for (name, method) in lateMethods {
        let ns = cmp_lateness_sample(method, rng.next())
        if ns < 0 { failures[name, default: 0] += 1 } else { late[name, default: []].append(Double(ns) / 1000) }
    }
}
print("\nLateness of a read blocked past a deadline 1-1.6 ms ahead (\(samples) samples each, microseconds)")
print("technique".padding(toLength: 32, withPad: " ", startingAt: 0) + "     p50      p99      max  early/failed")
var lateJSON: [String] = []
for (name, _) in lateMethods {
    let sorted = (late[name] ?? []).sorted()
    let (p50, p99, mx) = (percentile(sorted, 0.5), percentile(sorted, 0.99), sorted.last ?? .nan)
    print(name.padding(toLength: 32, withPad: " ", startingAt: 0)
          + String(format: "%8.1f %8.1f %8.1f  %d", p50, p99, mx, failures[name] ?? 0))
    lateJSON.append("{\"technique\":\"\(name)\",\"p50_us\":\(p50),\"p99_us\":\(p99),\"max_us\":\(mx),\"failed\":\(failures[name] ?? 0)}")
}

// MARK: Scale

let threads = 1_000
var scaleLate = [Int64](repeating: 0, count: threads)
_ = cmp_scale_deadlines(Int32(threads), 1_000_000_000, &scaleLate)
let scaleSorted = scaleLate.map { Double($0) / 1000 }.sorted()
let overTarget = scaleLate.enumerated().filter { $0.element > (getenv("CMP_DEBUG") != nil ? 500_000 : 2_000_000) }.map { "#\($0.offset): \($0.element / 1000) us" }
var rssPerThread: Int64 = 0
let cancelAll = Double(cmp_scale_cancel_all(Int32(threads), &rssPerThread)) / 1e6

// Memory per pending timer: the wheel's arrays, measured with 1M pending.
func residentKiB() -> Int {
    guard let f = fopen("/proc/self/status", "r") else { return -1 }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, 256, f) != nil {
        let s = String(cString: line)
        if s.hasPrefix("VmRSS:") { return Int(s.split(separator: " ").dropFirst().first ?? "") ?? -1 }
    }
    return -1
}
let pending = 1_000_000
let before = residentKiB()
let wheel = TimerWheel(now: iio_now_ns(), capacity: pending)
let base = iio_now_ns()
for id in 0..<pending { wheel.schedule(id, at: base + UInt64(id) * 1_000) }
let bytesPerTimer = Double((residentKiB() - before) * 1024) / Double(pending)

print("\nScale: \(threads) threads blocked on empty pipes")
print(String(format: "deadlines spread over 1 s: lateness p50 %.1f us, p99 %.1f us, max %.1f us (target: all within 2000 us)",
             percentile(scaleSorted, 0.5), percentile(scaleSorted, 0.99), scaleSorted.last ?? .nan))
if !overTarget.isEmpty { print("  over target: \(overTarget.joined(separator: ", "))") }
print(String(format: "cancel all at once: last returned %.2f ms after the first cancel (target: 20 ms)", cancelAll))
print("resident memory per blocked thread: \(rssPerThread) bytes (64 KiB stacks; includes the kernel-visible stack pages)")
print(String(format: "memory per pending timer: %.1f bytes in the wheel (with %d pending), plus the thread's 128-byte record", bytesPerTimer, pending))
_ = wheel.count

if let jsonPath {
    let json = """
    {"reads":[\(readJSON.joined(separator: ","))],
    "lateness":[\(lateJSON.joined(separator: ","))],
    "scale":{"threads":\(threads),"late_p50_us":\(percentile(scaleSorted, 0.5)),"late_p99_us":\(percentile(scaleSorted, 0.99)),"late_max_us":\(scaleSorted.last ?? 0),"cancel_all_ms":\(cancelAll),"rss_per_thread_bytes":\(rssPerThread),"bytes_per_timer":\(bytesPerTimer)}}

    """
    let f = fopen(jsonPath, "w")
    fputs(json, f)
    fclose(f)
    print("\nwrote \(jsonPath)")
}
