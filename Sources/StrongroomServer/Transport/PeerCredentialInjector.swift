#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOHPACK
import NIOHTTP2

/// The first handler of every HTTP/2 stream channel: removes any ``PeerCredentialHeader/name`` header
/// the client sent (in any frame), and, on a Unix socket, adds that header with the uid and pid the
/// kernel reported for the connection (SO_PEERCRED) to the stream's request headers. On TCP it only
/// removes (the identity there is the TLS certificate's subject).
final class PeerCredentialInjector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTP2Frame.FramePayload

    /// The header value to add to the first headers frame, or nil (TCP).
    private let value: String?
    private var addedToRequest = false

    init(value: String?) { self.value = value }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var payload = unwrapInboundIn(data)
        if case .headers(var headers) = payload {
            let name = PeerCredentialHeader.name
            // HPACKHeaders compares names case-insensitively; HTTP/2 names are lower case anyway.
            headers.headers.remove(name: name)
            if let value, !addedToRequest {
                headers.headers.add(name: name, value: value)
                addedToRequest = true
            }
            payload = .headers(headers)
        }
        context.fireChannelRead(wrapInboundOut(payload))
    }
}

extension PeerCredentialInjector {
    /// The stream initialiser for a Unix socket transport: reads SO_PEERCRED from the stream's
    /// connection and puts the injector first. A connection whose credentials cannot be read gets no
    /// identity header (its requests are refused as unidentified).
    static func unixSocketStreamInitializer(_ stream: any Channel) -> EventLoopFuture<Void> {
        guard let connection = stream.parent as? any SocketOptionProvider else {
            return install(on: stream, value: nil)
        }
        let credentials: EventLoopFuture<PeerCredentials> = connection.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        return credentials.flatMap { peer in
            install(on: stream, value: PeerCredentialHeader.value(uid: peer.uid, pid: peer.pid))
        }.flatMapError { _ in
            install(on: stream, value: nil)
        }
    }

    /// The stream initialiser for a TCP (mutual TLS) transport: strips the header only.
    static func tcpStreamInitializer(_ stream: any Channel) -> EventLoopFuture<Void> {
        install(on: stream, value: nil)
    }

    private static func install(on stream: any Channel, value: String?) -> EventLoopFuture<Void> {
        stream.eventLoop.makeCompletedFuture {
            try stream.pipeline.syncOperations.addHandler(PeerCredentialInjector(value: value), position: .first)
        }
    }
}

/// Linux's `struct ucred` (pid_t, uid_t, gid_t: three 32-bit integers in this order), which Glibc's
/// module does not export without _GNU_SOURCE; SO_PEERCRED fills exactly this many bytes.
struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
