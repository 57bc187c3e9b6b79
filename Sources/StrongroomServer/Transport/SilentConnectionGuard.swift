import NIOCore

/// Closes a connection from which nothing has been read for `timeout`: a client that connects and
/// sends nothing, or stops in the middle of a frame or a TLS handshake. gRPC's own idle handling
/// sends GOAWAY and then waits for the client's acknowledgement, which such a client never sends.
/// Clients with calls in progress answer the server's keepalive pings, which counts as reading.
final class SilentConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let timeout: TimeAmount
    private var lastRead: NIODeadline = .now()
    private var check: Scheduled<Void>?

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) {
        lastRead = .now()
        schedule(context: context, at: lastRead + timeout)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastRead = .now()
        context.fireChannelRead(data)
    }

    private func schedule(context: ChannelHandlerContext, at deadline: NIODeadline) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleTask(deadline: deadline) {
            let (guardHandler, context) = loopBound.value
            guardHandler.fire(context: context)
        }
    }

    private func fire(context: ChannelHandlerContext) {
        let due = lastRead + timeout
        if due <= .now() {
            check = nil
            context.close(promise: nil)
        } else {
            schedule(context: context, at: due)
        }
    }
}
