import NIOCore
import NIOHPACK
import NIOHTTP2

/// Refuses a request message over `server.maxMessageBytes` with a clear status before any of it is
/// buffered: reads the 5-byte gRPC length prefix of each message as the DATA frames pass and, when
/// the announced length is over the limit, answers the stream with trailers only
/// (`RESOURCE_EXHAUSTED`, naming both sizes) and drops everything the client sends after it. The
/// transport's own decoder would only reset the stream, which clients report as `UNAVAILABLE`.
final class MessageSizeGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private let limit: Int
    /// Bytes of the current message body still to pass.
    private var remaining = 0
    /// The length prefix read so far (a prefix may be split across frames).
    private var prefix: [UInt8] = []
    private var refused = false

    init(limit: Int) { self.limit = limit }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        guard case .data(let frame) = unwrapInboundIn(data), case .byteBuffer(var buffer) = frame.data else {
            context.fireChannelRead(data)
            return
        }
        while buffer.readableBytes > 0 {
            if remaining > 0 {
                let skipped = min(remaining, buffer.readableBytes)
                buffer.moveReaderIndex(forwardBy: skipped)
                remaining -= skipped
                continue
            }
            while prefix.count < 5, let byte = buffer.readInteger(as: UInt8.self) { prefix.append(byte) }
            guard prefix.count == 5 else { break }
            let length = Int(prefix[1]) << 24 | Int(prefix[2]) << 16 | Int(prefix[3]) << 8 | Int(prefix[4])
            prefix.removeAll(keepingCapacity: true)
            if length > limit {
                refuse(context: context, length: length)
                return
            }
            remaining = length
        }
        context.fireChannelRead(data)
    }

    private func refuse(context: ChannelHandlerContext, length: Int) {
        refused = true
        let message = "request message of \(length) bytes is over the server's limit of \(limit) bytes (server.maxMessageBytes); nothing was done"
        let headers: HPACKHeaders = [
            ":status": "200", "content-type": "application/grpc", "grpc-status": "8", "grpc-message": message,
        ]
        context.writeAndFlush(wrapOutboundOut(.headers(.init(headers: headers, endStream: true))), promise: nil)
    }
}
