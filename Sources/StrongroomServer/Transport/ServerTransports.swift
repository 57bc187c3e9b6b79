#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import NIOCore
import NIOSSL
import StrongroomCore

/// The gRPC transports of `strongroom serve`: a Unix domain socket whose streams carry the peer's
/// SO_PEERCRED uid, and an optional TCP listener with mutual TLS.
enum ServerTransports {
    /// The transport settings both listeners share: message size (an oversized message is refused
    /// with RESOURCE_EXHAUSTED by ``MessageSizeGuard``), streams per connection, idle connections
    /// closed (and silent ones dropped by ``SilentConnectionGuard``), keepalive pings answered within
    /// 20 s or the connection dropped.
    static func config(
        _ settings: ServerSettings, runtime: ServerRuntime?, streamInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) -> HTTP2ServerTransport.Posix.Config {
        var config = HTTP2ServerTransport.Posix.Config.defaults
        config.rpc.maxRequestPayloadSize = settings.maxMessageBytes
        config.http2.maxConcurrentStreams = settings.maxConcurrentStreams
        config.connection.maxIdleTime = .seconds(settings.idleTimeoutSeconds)
        // Pings keep a connection with calls in progress from counting as silent.
        config.connection.keepalive.time = .seconds(max(1, min(settings.idleTimeoutSeconds / 2, 60)))
        config.connection.keepalive.timeout = .seconds(20)
        let limit = settings.maxMessageBytes
        config.channelDebuggingCallbacks.onAcceptHTTP2Stream = { stream in
            streamInitializer(stream).flatMapThrowing {
                try stream.pipeline.syncOperations.addHandler(MessageSizeGuard(limit: limit), position: .first)
                // The connection's guard counts open streams: a connection with none for the idle
                // timeout is closed even when it trickles bytes.
                if let connection = stream.parent,
                   let connectionGuard = try? connection.pipeline.syncOperations.handler(type: SilentConnectionGuard.self) {
                    connectionGuard.streamOpened()
                    stream.closeFuture.whenComplete { _ in connectionGuard.streamClosed() }
                }
            }
        }
        let silence = TimeAmount.seconds(Int64(settings.idleTimeoutSeconds))
        config.channelDebuggingCallbacks.onAcceptTCPConnection = { connection in
            runtime?.register(connection: connection)
            return connection.eventLoop.makeCompletedFuture {
                try connection.pipeline.syncOperations.addHandler(SilentConnectionGuard(timeout: silence), position: .first)
            }
        }
        return config
    }

    /// The Unix socket listener (plaintext; the kernel vouches for the peer's uid).
    /// `runtime` (when given) keeps the connections, to close them at the end of a drain.
    static func unix(_ settings: ServerSettings, runtime: ServerRuntime? = nil) -> HTTP2ServerTransport.Posix {
        HTTP2ServerTransport.Posix(
            address: .unixDomainSocket(path: settings.socketPath), transportSecurity: .plaintext,
            config: config(settings, runtime: runtime, streamInitializer: PeerCredentialInjector.unixSocketStreamInitializer))
    }

    /// The TCP listener with mutual TLS: a client certificate is required and verified against
    /// `server.tls.clientCA` only (not the system's roots).
    static func tcp(_ listener: ServerSettings.TCPListener, _ settings: ServerSettings, runtime: ServerRuntime? = nil) -> HTTP2ServerTransport.Posix {
        let security = HTTP2ServerTransport.Posix.TransportSecurity.mTLS(
            certificateChain: [.file(path: listener.certificate, format: .pem)],
            privateKey: .file(path: listener.key, format: .pem)
        ) { tls in
            tls.trustRoots = .certificates([.file(path: listener.clientCA, format: .pem)])
            tls.clientCertificateVerification = .noHostnameVerification
        }
        return HTTP2ServerTransport.Posix(
            address: .ipv4(host: listener.host, port: listener.port).orIPv6(listener),
            transportSecurity: security,
            config: config(settings, runtime: runtime, streamInitializer: PeerCredentialInjector.tcpStreamInitializer))
    }

    /// Reads the TLS files before anything listens, so that an unusable one stops the start with an
    /// error naming it (never its content).
    static func checkTLSFiles(_ listener: ServerSettings.TCPListener) throws(StrongroomError) {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(listener.certificate)
            guard !chain.isEmpty else { throw StrongroomError(.configuration, "") }
        } catch {
            throw StrongroomError(
                .configuration, "server.tls.certificate \(listener.certificate) holds no PEM certificate the server can use")
        }
        var info = stat()
        guard stat(listener.key, &info) == 0 else {
            throw StrongroomError(.configuration, "server.tls.key \(listener.key) cannot be read")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw StrongroomError(
                .insecurePermissions,
                "server.tls.key \(listener.key) has mode \(String(info.st_mode & 0o7777, radix: 8)), readable or writable by group or others; refusing it: chmod 0600 \(listener.key)")
        }
        do {
            _ = try NIOSSLPrivateKey(file: listener.key, format: .pem)
        } catch {
            throw StrongroomError(
                .configuration, "server.tls.key \(listener.key) holds no PEM private key the server can use (an encrypted key is not supported)")
        }
        do {
            let roots = try NIOSSLCertificate.fromPEMFile(listener.clientCA)
            guard !roots.isEmpty else { throw StrongroomError(.configuration, "") }
        } catch {
            throw StrongroomError(
                .configuration, "server.tls.clientCA \(listener.clientCA) holds no PEM CA certificate to verify clients against")
        }
    }
}

extension GRPCNIOTransportCore.SocketAddress {
    /// An IPv6 address when the listener's host is one (it contains a colon), else this IPv4 one.
    fileprivate func orIPv6(_ listener: ServerSettings.TCPListener) -> GRPCNIOTransportCore.SocketAddress {
        listener.host.contains(":") ? .ipv6(host: listener.host, port: listener.port) : self
    }
}
