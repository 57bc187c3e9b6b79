import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import StrongroomCore
import StrongroomProto

/// Where a `strongroom serve` listens, as a client names it.
///
/// Forms: `unix:/run/strongroom/strongroom.sock`, `unix:///run/…` or a path starting with `/` (a Unix
/// domain socket: the server knows the caller by its uid); `tcp://host:port` or `host:port` (TCP, always
/// with mutual TLS: the server knows the caller by its certificate's subject).
public struct ServerAddress: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        case unix(path: String)
        case tcp(host: String, port: Int)
    }

    public var kind: Kind

    public init(_ kind: Kind) { self.kind = kind }

    /// Parses an address; the error names the text and the accepted forms.
    public static func parse(_ text: String) throws(StrongroomError) -> ServerAddress {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        func invalid(_ why: String) -> StrongroomError {
            StrongroomError(
                .invalidInput,
                "server address '\(trimmed)' \(why); use unix:/path/to/socket, /path/to/socket, tcp://host:port or host:port")
        }
        if trimmed.hasPrefix("unix://") {
            let path = String(trimmed.dropFirst("unix://".count))
            guard path.hasPrefix("/") else { throw invalid("needs an absolute socket path") }
            return ServerAddress(.unix(path: path))
        }
        if trimmed.hasPrefix("unix:") {
            let path = String(trimmed.dropFirst("unix:".count))
            guard path.hasPrefix("/") else { throw invalid("needs an absolute socket path") }
            return ServerAddress(.unix(path: path))
        }
        if trimmed.hasPrefix("/") { return ServerAddress(.unix(path: trimmed)) }
        var rest = Substring(trimmed)
        if rest.hasPrefix("tcp://") { rest = rest.dropFirst("tcp://".count) }
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]),
              (1...65535).contains(port)
        else { throw invalid("has no port") }
        var host = String(rest[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw invalid("has no host") }
        return ServerAddress(.tcp(host: host, port: port))
    }

    public var description: String {
        switch kind {
        case .unix(let path): return "unix:\(path)"
        case .tcp(let host, let port): return host.contains(":") ? "tcp://[\(host)]:\(port)" : "tcp://\(host):\(port)"
        }
    }
}

/// The files of a client's mutual TLS identity (PEM): its certificate chain and key, and the CA that
/// signed the server's certificate.
public struct ClientTLSFiles: Sendable, Hashable {
    public var certificate: String
    public var key: String
    public var trustRoots: String
    /// The name to check the server's certificate against (default: the host of the address).
    public var serverHostname: String?

    public init(certificate: String, key: String, trustRoots: String, serverHostname: String? = nil) {
        self.certificate = certificate
        self.key = key
        self.trustRoots = trustRoots
        self.serverHostname = serverHostname
    }
}

/// Connections to a `strongroom serve`.
public enum StrongroomClient {
    /// The generated client over the Posix HTTP/2 transport.
    public typealias Vault = Strongroom_V1_Vault.Client<HTTP2ClientTransport.Posix>

    /// Connects to `address`, runs `body` with the vault client, and closes the connection. A TCP
    /// address needs `tls`. Errors the server sends come out of the generated client as `RPCError`;
    /// ``RPCErrorMapping/strongroomError(_:)`` turns them back into ``StrongroomError``.
    public static func withVault<T: Sendable>(
        _ address: ServerAddress, tls: ClientTLSFiles? = nil,
        _ body: @Sendable (Vault) async throws -> T
    ) async throws -> T {
        let transport = try makeTransport(address, tls: tls)
        return try await withGRPCClient(transport: transport) { client in
            try await body(Strongroom_V1_Vault.Client(wrapping: client))
        }
    }

    /// The transport for `address` (plaintext on a Unix socket, mutual TLS on TCP).
    public static func makeTransport(
        _ address: ServerAddress, tls: ClientTLSFiles?
    ) throws -> HTTP2ClientTransport.Posix {
        let config = HTTP2ClientTransport.Posix.Config.defaults
        switch address.kind {
        case .unix(let path):
            return try HTTP2ClientTransport.Posix(
                target: .unixDomainSocket(path: path), transportSecurity: .plaintext, config: config)
        case .tcp(let host, let port):
            guard let tls else {
                throw StrongroomError(
                    .configuration,
                    "server address \(address) is TCP, which needs mutual TLS: give the client certificate, key and CA (--tls-cert, --tls-key, --tls-ca)")
            }
            let security = HTTP2ClientTransport.Posix.TransportSecurity.mTLS(
                certificateChain: [.file(path: tls.certificate, format: .pem)],
                privateKey: .file(path: tls.key, format: .pem)
            ) { config in
                config.trustRoots = .certificates([.file(path: tls.trustRoots, format: .pem)])
            }
            var transportConfig = config
            if let name = tls.serverHostname { transportConfig.http2.authority = name }
            return try HTTP2ClientTransport.Posix(
                target: .dns(host: host, port: port), transportSecurity: security, config: transportConfig)
        }
    }
}
