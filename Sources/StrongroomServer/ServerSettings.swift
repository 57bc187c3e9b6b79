#if canImport(Glibc)
import Glibc
#endif
import Foundation
import StrongroomCore

/// The `server.*` settings of `strongroom serve`, read from the vault's own configuration file (and
/// `STRONGROOM_SERVER_…` environment variables, which win). docs/server.md, "Configuration", lists
/// them; each is documented where it is read below.
public struct ServerSettings: Sendable, Hashable {
    /// A TCP listener: always mutual TLS.
    public struct TCPListener: Sendable, Hashable {
        public var host: String
        public var port: Int
        /// PEM certificate chain of the server (`server.tls.certificate`).
        public var certificate: String
        /// PEM private key of the server (`server.tls.key`); a path, never the key itself.
        public var key: String
        /// PEM CA certificates that client certificates must chain to (`server.tls.clientCA`).
        public var clientCA: String

        public init(host: String, port: Int, certificate: String, key: String, clientCA: String) {
            self.host = host
            self.port = port
            self.certificate = certificate
            self.key = key
            self.clientCA = clientCA
        }

        /// `tcp://host:port`.
        public var description: String { host.contains(":") ? "tcp://[\(host)]:\(port)" : "tcp://\(host):\(port)" }
    }

    /// Where the Prometheus exposition is served.
    public enum MetricsListener: Sendable, Hashable, CustomStringConvertible {
        case unix(path: String)
        case tcp(host: String, port: Int)

        public var description: String {
            switch self {
            case .unix(let path): return "unix:\(path)"
            case .tcp(let host, let port): return host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)"
            }
        }
    }

    /// The default Unix socket.
    public static let defaultSocketPath = "/run/strongroom/strongroom.sock"

    /// `server.socket`: the Unix domain socket (made 0600; its directory 0700, created when missing).
    public var socketPath: String = ServerSettings.defaultSocketPath
    /// `server.tcp` with `server.tls.*`: the optional mutual TLS listener.
    public var tcp: TCPListener?
    /// `server.policy`: the access policy file (required).
    public var policyPath: String
    /// `server.metrics`: the optional Prometheus endpoint (`unix:/path` or `host:port`).
    public var metrics: MetricsListener?
    /// `server.maxMessageBytes` (default 1048576): the largest request message accepted.
    public var maxMessageBytes: Int = 1_048_576
    /// `server.maxConcurrentStreams` (default 256): concurrent RPCs per connection.
    public var maxConcurrentStreams: Int = 256
    /// `server.drainTimeoutSeconds` (default 30): how long SIGTERM waits for in-flight RPCs.
    public var drainTimeoutSeconds: Int = 30
    /// `server.idleTimeoutSeconds` (default 300): a connection with no RPC for this long is closed.
    public var idleTimeoutSeconds: Int = 300

    public init(policyPath: String) { self.policyPath = policyPath }

    /// Every key read here (for the positions messages name).
    public static let settingKeys = [
        "server.socket", "server.tcp", "server.tls.certificate", "server.tls.key", "server.tls.clientCA",
        "server.policy", "server.metrics", "server.maxMessageBytes", "server.maxConcurrentStreams",
        "server.drainTimeoutSeconds", "server.idleTimeoutSeconds",
    ]

    /// Reads the settings from the configuration file `filePath` (nil: the environment only) and the
    /// environment. Errors name the key and where it is given, never a value.
    public static func load(
        filePath: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws(StrongroomError) -> ServerSettings {
        let reader = try await ConfigurationReader.load(
            filePath: filePath, environment: environment, settingKeys: settingKeys)
        return try load(reader)
    }

    /// Reads the settings from `reader`.
    public static func load(_ reader: ConfigurationReader) throws(StrongroomError) -> ServerSettings {
        guard let policy = try reader.string("server.policy"), !policy.isEmpty else {
            throw StrongroomError(
                .configuration,
                "missing required setting 'server.policy' in \(reader.source): the server refuses to start without an access policy file; set it there or in \(reader.variable("server.policy")) (see docs/server.md, \"Access policy\")")
        }
        var settings = ServerSettings(policyPath: policy)
        if let socket = try reader.string("server.socket") {
            guard socket.hasPrefix("/") else { throw reader.invalid("server.socket", "must be an absolute path") }
            guard socket.utf8.count < 108 else {
                throw reader.invalid("server.socket", "must be shorter than 108 bytes (the limit of a Unix socket path)")
            }
            guard !socket.hasSuffix("/") else { throw reader.invalid("server.socket", "must name a socket, not a directory") }
            settings.socketPath = socket
        }
        if let tcp = try reader.string("server.tcp"), !tcp.isEmpty {
            guard let (host, port) = hostPort(tcp), isNumericAddress(host) else {
                throw reader.invalid("server.tcp", "must be a numeric address and a port, address:port (for example 0.0.0.0:8443 or [::]:8443)")
            }
            var files: [String] = []
            for key in ["server.tls.certificate", "server.tls.key", "server.tls.clientCA"] {
                guard let path = try reader.string(key), !path.isEmpty else {
                    throw StrongroomError(
                        .configuration,
                        "setting 'server.tcp' in \(reader.place("server.tcp")) needs '\(key)' too: TCP is served with mutual TLS only (server.tls.certificate, server.tls.key and server.tls.clientCA)")
                }
                guard FileManager.default.isReadableFile(atPath: path) else {
                    throw reader.invalid(key, "names \(path), which does not exist or cannot be read")
                }
                files.append(path)
            }
            settings.tcp = TCPListener(host: host, port: port, certificate: files[0], key: files[1], clientCA: files[2])
        } else {
            for key in ["server.tls.certificate", "server.tls.key", "server.tls.clientCA"] where try reader.string(key) != nil {
                throw reader.invalid(key, "is given but server.tcp is not: set server.tcp to serve TCP with mutual TLS, or remove it")
            }
        }
        if let metrics = try reader.string("server.metrics"), !metrics.isEmpty {
            if metrics.hasPrefix("unix:") {
                let path = String(metrics.dropFirst("unix:".count))
                guard path.hasPrefix("/"), path.utf8.count < 108 else {
                    throw reader.invalid("server.metrics", "must be unix:/absolute/path (shorter than 108 bytes) or host:port")
                }
                settings.metrics = .unix(path: path)
            } else if let (host, port) = hostPort(metrics), isNumericAddress(host) {
                settings.metrics = .tcp(host: host, port: port)
            } else {
                throw reader.invalid("server.metrics", "must be unix:/absolute/path or a numeric address:port (for example 127.0.0.1:9464)")
            }
        }
        settings.maxMessageBytes = try reader.int("server.maxMessageBytes", default: 1_048_576, in: 1024...(64 << 20))
        settings.maxConcurrentStreams = try reader.int("server.maxConcurrentStreams", default: 256, in: 1...65_536)
        settings.drainTimeoutSeconds = try reader.int("server.drainTimeoutSeconds", default: 30, in: 0...3600)
        settings.idleTimeoutSeconds = try reader.int("server.idleTimeoutSeconds", default: 300, in: 1...86_400)
        return settings
    }

    /// `host:port` or `[v6]:port` with port 0 to 65535 (0: any free port, for tests).
    static func hostPort(_ text: String) -> (String, Int)? {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        if rest.hasPrefix("tcp://") { rest = rest.dropFirst("tcp://".count) }
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]),
              (0...65535).contains(port)
        else { return nil }
        var host = String(rest[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        return (host, port)
    }

    /// Whether `host` is an IPv4 or IPv6 address (listeners bind numeric addresses, not names).
    static func isNumericAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}
