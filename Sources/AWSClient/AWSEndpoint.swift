/// A service endpoint: scheme, host and port, checked for transport security.
///
/// HTTPS always; plain HTTP only for loopback hosts (`localhost`, `127.0.0.0/8`, `::1`), or for
/// any host when `allowInsecureHTTP` is set explicitly.
public struct AWSEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// `https` or `http`.
    public let scheme: String
    /// The host name or address (IPv6 without brackets).
    public let host: String
    /// The TCP port.
    public let port: Int

    /// Parses `https://host[:port]` (a trailing `/` is allowed; paths, queries and user info are not).
    public init(_ url: String, allowInsecureHTTP: Bool = false) throws(AWSError) {
        // An endpoint with a user part may carry a password (`https://user:secret@host`): such a value
        // is never repeated in a message.
        let shown = url.contains("@") ? "(not shown: it has a user part)" : "'\(url)'"
        let scheme: String
        var rest: Substring
        if url.hasPrefix("https://") {
            scheme = "https"
            rest = url.dropFirst(8)
        } else if url.hasPrefix("http://") {
            scheme = "http"
            rest = url.dropFirst(7)
        } else {
            throw AWSError.configuration("endpoint \(shown) must start with https:// (or http:// for a loopback server)")
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty, !rest.contains("/"), !rest.contains("@"), !rest.contains("?"), !rest.contains("#") else {
            throw AWSError.configuration("the endpoint must be scheme://host[:port] without a path, query or user (it is not shown: a user part may hold a password)")
        }
        var host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else {
                throw AWSError.configuration("endpoint \(shown) has an unclosed IPv6 bracket")
            }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty {
                throw AWSError.configuration("endpoint \(shown) has text after the IPv6 address")
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        let port: Int
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw AWSError.configuration("endpoint \(shown) has an invalid port '\(portText)'")
            }
            port = value
        } else {
            port = scheme == "https" ? 443 : 80
        }
        guard !host.isEmpty else { throw AWSError.configuration("endpoint \(shown) has no host") }
        self.scheme = scheme
        self.host = host.lowercased()
        self.port = port
        if scheme == "http" && !isLoopback && !allowInsecureHTTP {
            throw AWSError.configuration(
                "endpoint \(shown) uses plain HTTP to a host that is not loopback; use https://, or allow plain HTTP explicitly (allowInsecureHTTP) if this network is trusted")
        }
    }

    /// True for `localhost`, `127.0.0.0/8` and `::1`.
    public var isLoopback: Bool {
        if host == "localhost" || host == "::1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    /// The value of the `Host` header for `host` (the default port left out).
    func hostHeader(_ host: String) -> String {
        let bracketed = host.contains(":") ? "[\(host)]" : host
        let defaultPort = scheme == "https" ? 443 : 80
        return port == defaultPort ? bracketed : "\(bracketed):\(port)"
    }

    /// `scheme://host:port`.
    public var description: String { "\(scheme)://\(hostHeader(host))" }
}
