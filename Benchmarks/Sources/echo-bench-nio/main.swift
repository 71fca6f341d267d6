// Echo server for the server benchmark (issue 15): SwiftNIO, one
// MultiThreadedEventLoopGroup with one event loop per core. The idle read
// deadline (10 s) is an IdleStateHandler; the write deadline (5 s) closes a
// connection whose writes stay pending (the channel unwritable) for 5 s,
// the event-loop form of SO_SNDTIMEO. SIGTERM or SIGINT: the server channel
// is closed, then every connection, then the loops are shut down, and the
// process exits 0.
//
//   echo-bench-nio [--port P]   (0 picks a free port; prints
//                                "listening on 127.0.0.1:PORT" first)
import EchoBenchSupport
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var writeDeadline: Scheduled<Void>?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            writeDeadline?.cancel()
            writeDeadline = nil
        } else if writeDeadline == nil {
            let channel = context.channel
            writeDeadline = context.eventLoop.scheduleTask(in: .seconds(5)) { channel.close(promise: nil) }
        }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        writeDeadline?.cancel()
        writeDeadline = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

/// The open connections, so that a shutdown can close them.
final class Connections: Sendable {
    private let open = Mutex<[ObjectIdentifier: Channel]>([:])
    func add(_ channel: Channel) {
        open.withLock { $0[ObjectIdentifier(channel)] = channel }
        channel.closeFuture.whenComplete { [self] _ in _ = open.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) } }
    }
    var all: [Channel] { open.withLock { Array($0.values) } }
}

let (port, _) = parseCommandLine("echo-bench-nio")
blockStopSignals()

let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
let connections = Connections()
let bootstrap = ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 1024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        connections.add(channel)
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandlers(
                IdleStateHandler(readTimeout: .seconds(10)), EchoHandler())
        }
    }
let serverChannel: Channel
do {
    serverChannel = try bootstrap.bind(host: "127.0.0.1", port: Int(port)).wait()
} catch {
    fail("echo-bench-nio: cannot listen: \(error)")
}
announce(port: serverChannel.localAddress?.port ?? 0)
waitForStopSignal()
try? serverChannel.close().wait()
let closing = connections.all.map { channel in channel.close().flatMapErrorThrowing { _ in } }
try? EventLoopFuture.andAllComplete(closing, on: group.next()).wait()
try? group.syncShutdownGracefully()
exit(0)
