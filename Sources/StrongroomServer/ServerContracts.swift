import StrongroomCore

/// Who is calling: the peer uid of a Unix domain socket connection (SO_PEERCRED), or the subject of the
/// certificate a TLS client presented. Not secret; recorded in the audit log as the client.
public struct PeerIdentity: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// A Unix domain socket peer: its effective uid (and, for records, its pid).
        case uid(UInt32)
        /// A mutual TLS peer: its certificate's subject as an RFC 4514 string (`CN=engine-a,O=Example`).
        case certificateSubject(String)
    }

    public var kind: Kind
    /// The peer's pid, when the transport knows it (Unix sockets); for records only, never for access.
    public var pid: Int32?

    public init(_ kind: Kind, pid: Int32? = nil) {
        self.kind = kind
        self.pid = pid
    }

    /// `uid:1001` or `subject:CN=engine-a,O=Example`: the form the audit log's `client` shows.
    public var description: String {
        switch kind {
        case .uid(let uid): return "uid:\(uid)"
        case .certificateSubject(let subject): return "subject:\(subject)"
        }
    }
}

/// The operations an access policy grants (docs/server.md, "Access policy"). Health needs no grant.
public enum PolicyOperation: String, CaseIterable, Sendable, Hashable {
    case store, load, list, versions, erase, rotate, status, unseal, seal, audit, recovery, migrate

    /// Whether the operation names a share, so that a rule's share-id prefixes apply to it.
    public var namesShare: Bool {
        switch self {
        case .store, .load, .versions, .erase, .list: return true
        default: return false
        }
    }
}

/// What the policy said about one request.
public struct PolicyDecision: Sendable, Hashable {
    /// True when a rule grants the operation (on the share, for share operations).
    public var allowed: Bool
    /// The name of the rule that allowed it (recorded as the operation's `policy` detail), or nil.
    public var rule: String?
    /// Why it was refused (secret-free; goes into the error and the `access.denied` record), or why
    /// it was allowed.
    public var reason: String

    public init(allowed: Bool, rule: String?, reason: String) {
        self.allowed = allowed
        self.rule = rule
        self.reason = reason
    }
}

extension StrongroomError.Code {
    /// The server is sealed: only Health and Unseal are answered until custodians unseal it.
    public static let sealed = StrongroomError.Code("vault sealed", exitStatus: 75)
    /// Unsealing is locked after too many wrong parts; it opens again after the delay the error names.
    public static let unsealLockedOut = StrongroomError.Code("unseal locked out", exitStatus: 75)
    /// The server is draining (SIGTERM): new requests are refused while in-flight ones finish.
    public static let draining = StrongroomError.Code("server draining", exitStatus: 75)
}
