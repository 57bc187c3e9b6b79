import NIOCore

/// Closes a connection that is silent or idle for `timeout`:
///
/// - silent: nothing has been read from it for `timeout` — a client that connects and sends nothing, or
///   stops in the middle of a frame or a TLS handshake. gRPC's own idle handling sends GOAWAY and then
///   waits for the client's acknowledgement, which such a client never sends. Clients with calls in
///   progress answer the server's keepalive pings, which counts as reading.
/// - idle: it has had no request (HTTP/2 stream) open for twice `timeout` — a client that trickles bytes
///   (a PING frame now and then) and never asks for anything, or one that ignored the GOAWAY gRPC sends
///   after `timeout` without a call (a well-behaved client closes then, so it never meets this). The transport
///   reports each stream with ``streamOpened()`` and ``streamClosed()``; a connection nobody reports
///   streams for (the metrics endpoint's HTTP/1) is idle from the start, so it lives at most twice `timeout`.
final class SilentConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let timeout: TimeAmount
    private var lastRead: NIODeadline = .now()
    /// When the number of open streams last changed (or the connection opened).
    private var lastStreamChange: NIODeadline = .now()
    private var openStreams = 0
    private var check: Scheduled<Void>?

    init(timeout: TimeAmount) { self.timeout = timeout }

    /// A request stream opened on this connection (called on the connection's event loop).
    func streamOpened() {
        openStreams += 1
        lastStreamChange = .now()
    }

    /// A request stream of this connection closed (called on the connection's event loop).
    func streamClosed() {
        openStreams = max(0, openStreams - 1)
        lastStreamChange = .now()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        lastRead = .now()
        lastStreamChange = lastRead
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
        let silentDue = lastRead + timeout
        let idleDue = openStreams == 0 ? lastStreamChange + timeout + timeout : nil
        let now = NIODeadline.now()
        if silentDue <= now || (idleDue.map { $0 <= now } ?? false) {
            check = nil
            context.close(promise: nil)
        } else {
            schedule(context: context, at: idleDue.map { min($0, silentDue) } ?? silentDue)
        }
    }
}
