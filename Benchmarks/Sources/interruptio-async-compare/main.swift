// The async bridge, side by side in one run (interleaved rounds, medians):
// the round trip of an async 1-byte read that completes at once, against a
// synchronous read(2), NIOThreadPool.runIfActive running the same read, and
// a hop to a Dispatch queue. Then the scale rows: N async reads blocked on
// N empty pipes.
//   swift run -c release interruptio-async-compare [--quick] [--blocked N]
import Dispatch
import Foundation
import InterruptIO
import NIOPosix
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
let quick = arguments.contains("--quick")
let blockedCount = arguments.firstIndex(of: "--blocked").flatMap { Int(arguments[$0 + 1]) } ?? (quick ? 500 : 5_000)

func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? .nan : sorted[sorted.count / 2]
}

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

struct Unchecked<Value>: @unchecked Sendable { let value: Value }

// MARK: Round trips

enum Row: CaseIterable {
    case syncRead, asyncRead, bridgeRead, nioThreadPool, dispatchHop
    var title: String {
        switch self {
        case .syncRead: "read(2), synchronous, on the caller"
        case .asyncRead: "FileDescriptor.read(into:deadline:) async"
        case .bridgeRead: "BlockingPool.run { read(2) }"
        case .nioThreadPool: "NIOThreadPool.runIfActive { read(2) }"
        case .dispatchHop: "DispatchQueue.global().async { read(2) } + continuation"
        }
    }
}

let (readEnd, writeEnd) = try! FileDescriptor.pipe()
let buffer = Unchecked(value: UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1))
let fd = readEnd.rawValue
let nioPool = NIOThreadPool(numberOfThreads: 2)
nioPool.start()

/// Fills the pipe with `count` bytes so each read completes at once.
func prime(_ count: Int) {
    var chunk = [UInt8](repeating: 1, count: count)
    var done = 0
    while done < count {
        let n = chunk.withUnsafeMutableBytes { write(writeEnd.rawValue, $0.baseAddress! + done, count - done) }
        precondition(n > 0)
        done += n
    }
}

@inline(never) func rawRead() -> Int { read(fd, buffer.value.baseAddress, 1) }

func measure(_ row: Row, _ count: Int) async throws -> Double {
    prime(count)
    let start = now()
    switch row {
    case .syncRead:
        for _ in 0..<count { precondition(rawRead() == 1) }
    case .asyncRead:
        for _ in 0..<count { let n = try await readEnd.read(into: buffer.value, deadline: .never); precondition(n == 1) }
    case .bridgeRead:
        for _ in 0..<count { let n = try await BlockingPool.run { rawRead() }; precondition(n == 1) }
    case .nioThreadPool:
        for _ in 0..<count { let n = try await nioPool.runIfActive { rawRead() }; precondition(n == 1) }
    case .dispatchHop:
        for _ in 0..<count {
            let n = await withCheckedContinuation { (c: CheckedContinuation<Int, Never>) in
                DispatchQueue.global().async { c.resume(returning: rawRead()) }
            }
            precondition(n == 1)
        }
    }
    return Double(now() - start) / Double(count)
}

let batch = quick ? 2_000 : 10_000
let rounds = arguments.contains("--scale-only") ? 0 : quick ? 5 : 15
var samples: [Row: [Double]] = [:]
for row in Row.allCases where rounds > 0 { _ = try await measure(row, 500) } // warm up: threads made, code paged in
for _ in 0..<rounds {
    for row in Row.allCases.shuffled() { samples[row, default: []].append(try await measure(row, batch)) }
}
if rounds > 0 {
let nio = median(samples[.nioThreadPool]!)
print("Async round trip of a 1-byte read that completes at once (\(rounds) interleaved rounds of \(batch); median ns/op, ratio to NIOThreadPool):")
for row in Row.allCases {
    let m = median(samples[row]!)
    print("  \(row.title.padding(toLength: 58, withPad: " ", startingAt: 0)) \(String(format: "%8.0f ns  %5.2fx", m, m / nio))")
}
let asyncRatio = median(samples[.asyncRead]!) / nio
print(String(format: "target: async read at most NIOThreadPool's round trip: %.2fx", asyncRatio) + (asyncRatio <= 1 ? " (met)" : " (missed)"))
}
try await nioPool.shutdownGracefully()

// MARK: Scale

var limit = rlimit()
getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
limit.rlim_cur = limit.rlim_max
setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
let pipes = (0..<blockedCount).map { _ in try! FileDescriptor.pipe() }
let (dataRead, dataWrite) = try! FileDescriptor.pipe()
let rssBefore = residentKiB()
let threadsBefore = BlockingPool.threadCount
var cancelCallMs = 0.0, cancelMs = 0.0, probeUs: [Double] = [], rssPerCall = 0.0, threadsMade = 0
await withTaskGroup(of: Void.self) { group in
    for (r, _) in pipes {
        group.addTask {
            let b = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
            defer { b.deallocate() }
            _ = try? await r.read(into: b, deadline: .never)
        }
    }
    // Every read holds a pool thread of its own once none is queued.
    while BlockingPool.threadCount < blockedCount || BlockingPool.queuedCount > 0 {
        try? await Task.sleep(for: .milliseconds(20))
    }
    try? await Task.sleep(for: .milliseconds(200))
    threadsMade = BlockingPool.threadCount - threadsBefore
    rssPerCall = Double((residentKiB() - rssBefore) * 1024) / Double(blockedCount)
    // While they are blocked: a read on a pipe that has data.
    let probe = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
    for _ in 0..<50 {
        _ = [UInt8(7)].withUnsafeBytes { write(dataWrite.rawValue, $0.baseAddress, 1) }
        let start = now()
        _ = try? await dataRead.read(into: probe, deadline: .after(.seconds(5)))
        probeUs.append(Double(now() - start) / 1e3)
    }
    probe.deallocate()
    let start = now()
    group.cancelAll()
    cancelCallMs = Double(now() - start) / 1e6
    for await _ in group {}
    cancelMs = Double(now() - start) / 1e6
}
probeUs.sort()
print("\nScale: \(blockedCount) async reads blocked on \(blockedCount) empty pipes (\(threadsMade) pool threads made)")
print(String(format: "a read on a pipe with data meanwhile: median %.1f us, max %.1f us (target: within 1000 us)",
             median(probeUs), probeUs.last ?? .nan))
print(String(format: "cancelling their task group: all %d returned in %.1f ms (target: 100 ms); cancelAll() itself took %.1f ms", blockedCount, cancelMs, cancelCallMs))
print(String(format: "resident memory per blocked async call: %.0f bytes (a pool thread: %d KiB stack reserved, pages touched only)",
             rssPerCall, BlockingPool.threadStackSize / 1024))
