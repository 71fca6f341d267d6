// Must compile: the deliberate ways to call a sync form — from synchronous
// code (a thread of one's own) and inside the bridge's operation.
import InterruptIO
import SystemPackage

func onMyThread(_ fd: FileDescriptor, _ buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    try fd.read(into: buffer, deadline: .never)
}

func viaBridge(_ fd: FileDescriptor) async throws -> [UInt8] {
    try await BlockingPool.run { try fd.read(upToCount: 4, deadline: .never) }
}
