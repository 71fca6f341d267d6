// Must NOT compile: a blocking sync form called directly from async code.
// Where an async twin has the same signature the compiler picks it and asks
// for `await`; where only the sync form fits (a collection that is not an
// array), its noasync attribute rejects it. Tests/CompileChecks/check.sh
// expects an error on each line that ends with the marker below.
import InterruptIO
import SystemPackage

func handler(_ fd: FileDescriptor, _ conn: DeadlineDescriptor, _ buffer: UnsafeMutableRawBufferPointer) async throws {
    _ = try fd.read(into: buffer, deadline: .never) // EXPECT-ERROR
    _ = try fd.read(intoBuffers: [buffer], deadline: .never) // EXPECT-ERROR
    _ = try fd.read(intoBuffers: CollectionOfOne(buffer), deadline: .never) // EXPECT-ERROR
    _ = try conn.read(into: buffer) // EXPECT-ERROR
    _ = try FileDescriptor.poll(UnsafeMutableBufferPointer(start: nil, count: 0), timeout: .seconds(1), deadline: .never) // EXPECT-ERROR
}
