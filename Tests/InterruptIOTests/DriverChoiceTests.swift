import CInterruptIO
import InterruptIO
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The names of this process's threads (/proc/self/task/*/comm).
func threadNames() -> [String] {
    guard let dir = opendir("/proc/self/task") else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let tid = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard tid.first?.isNumber == true, let file = fopen("/proc/self/task/\(tid)/comm", "r") else { continue }
        var line = [CChar](repeating: 0, count: 64)
        if fgets(&line, 64, file) != nil {
            names.append(String(cString: line).trimmingCharacters(in: "\n"))
        }
        fclose(file)
    }
    return names
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = self
        while s.last == set { s.removeLast() }
        return s
    }
}

/// In a process that links the Swift module, C code that sets a deadline
/// gets the Swift timer thread, started for it: no prototype, no call of
/// its own, and never the C core's driver as a second one.
@Suite struct DriverChoice {
    @Test func cCallsInASwiftProcessStartTheSwiftDriver() async {
        await #expect(processExitsWith: .success) {
            alarm(30)
            var p: [CInt] = [0, 0]
            guard pipe(&p) == 0 else { exit(10) }
            // Straight to the C API, as a C target of the package would.
            let deadline = iio_now_ns() + 50_000_000
            guard iio_deadline_set(deadline) == 0 else { exit(11) }
            var byte: UInt8 = 0
            let r = iio_read(p[0], &byte, 1)
            let late = iio_now_ns() &- deadline
            guard r == -Int(ETIMEDOUT), late < 1_000_000_000 else { exit(12) }
            let names = threadNames()
            guard names.contains("iio-timer") else { exit(13) }
            guard !names.contains("iio-timer-c") else { exit(14) }
            exit(0)
        }
    }
}
