import GRPCCore
import GRPCNIOTransportHTTP2
import SecureCrypto
import X509

/// How a handler learns who is calling.
///
/// TLS: the subject of the client certificate the transport verified
/// (`HTTP2ServerTransport.Posix.Context.peerCertificate`).
///
/// Unix socket: the transport reads the connection's SO_PEERCRED when each HTTP/2 stream opens and
/// puts the uid (and pid) into the stream's request headers under ``PeerCredentialHeader/name``, after
/// removing any header of that name the client sent. The name carries a random suffix chosen at start,
/// so a client cannot guess it; a request that reaches a handler without it has no identity and is
/// refused.
public enum PeerCredentialHeader {
    /// `x-strongroom-peer-<32 hex digits>`, fixed for the life of the process.
    public static let name: String = {
        guard let random = try? SecureRandom.bytes(count: 16) else { fatalError("no random bytes for the peer credential header name") }
        return "x-strongroom-peer-" + Hex.encode(random)
    }()
    /// The header's value: `uid=<uid>,pid=<pid>`.
    public static func value(uid: UInt32, pid: Int32) -> String { "uid=\(uid),pid=\(pid)" }
}

extension PeerIdentity {
    /// The caller of a request: the certificate subject on TLS, else the uid the transport put in the
    /// request's metadata; nil when neither is there.
    public static func of(metadata: Metadata, context: ServerContext) -> PeerIdentity? {
        if let posix = context.transportSpecific as? HTTP2ServerTransport.Posix.Context,
           let certificate = posix.peerCertificate {
            return PeerIdentity(.certificateSubject(certificate.subject.description))
        }
        guard let value = metadata[stringValues: PeerCredentialHeader.name].first(where: { _ in true }) else { return nil }
        var uid: UInt32?
        var pid: Int32?
        for part in value.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { continue }
            if pair[0] == "uid" { uid = UInt32(pair[1]) }
            if pair[0] == "pid" { pid = Int32(pair[1]) }
        }
        guard let uid else { return nil }
        return PeerIdentity(.uid(uid), pid: pid)
    }
}
