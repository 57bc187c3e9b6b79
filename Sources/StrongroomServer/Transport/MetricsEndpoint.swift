import NIOCore
import NIOHTTP1
import NIOPosix
import StrongroomMetrics

/// The Prometheus endpoint (`server.metrics`): a small HTTP/1.1 server answering `GET /metrics` with
/// the text exposition of every metric in the process, on its own Unix socket or TCP port. Anything
/// else gets 404 (other paths) or 405 (other methods). Requests are read with a 8 KiB header limit
/// (NIOHTTP1's parser) and the connection is closed after each answer, so a client cannot hold
/// more than one small buffer.
final class MetricsEndpoint: Sendable {
    private let channel: any Channel
    /// Where it listens (the bound port when `server.metrics` asked for port 0).
    let address: String

    private init(channel: any Channel, address: String) {
        self.channel = channel
        self.address = address
    }

    /// Binds the endpoint; an error names the address.
    static func bind(
        _ listener: ServerSettings.MetricsListener, metrics: PrometheusMetrics
    ) async throws -> MetricsEndpoint {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(metrics: metrics))
                }
            }
        switch listener {
        case .unix(let path):
            let channel = try await bootstrap.bind(unixDomainSocketPath: path).get()
            try UnixSocketPath.restrict(path, purpose: "metrics socket")
            return MetricsEndpoint(channel: channel, address: "unix:\(path)")
        case .tcp(let host, let port):
            let channel = try await bootstrap.bind(host: host, port: port).get()
            let bound = channel.localAddress?.port ?? port
            let shown = host.contains(":") ? "http://[\(host)]:\(bound)" : "http://\(host):\(bound)"
            return MetricsEndpoint(channel: channel, address: shown)
        }
    }

    /// Stops listening.
    func close() async {
        try? await channel.close()
    }
}

/// Answers one request per connection.
private final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: PrometheusMetrics
    private var head: HTTPRequestHead?

    init(metrics: PrometheusMetrics) { self.metrics = metrics }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let status: HTTPResponseStatus
            let body: String
            let contentType: String
            if head.method != .GET && head.method != .HEAD {
                (status, body, contentType) = (.methodNotAllowed, "only GET /metrics is served\n", "text/plain")
            } else if head.uri != "/metrics" && !head.uri.hasPrefix("/metrics?") {
                (status, body, contentType) = (.notFound, "not found: the metrics are at /metrics\n", "text/plain")
            } else {
                (status, body, contentType) = (.ok, metrics.exposition(), PrometheusMetrics.contentType)
            }
            var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
            buffer.writeString(body)
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: contentType)
            headers.add(name: "content-length", value: String(buffer.readableBytes))
            headers.add(name: "connection", value: "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            if head.method != .HEAD {
                context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            }
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
