import StrongroomCore

/// The server's access policy: deny by default (docs/server.md, "Access policy").
///
/// SKELETON (lane policy replaces this file): refuses everything.
public struct AccessPolicy: Sendable {
    /// Where the policy was read from (a path), for messages.
    public let source: String

    /// Reads and checks a policy file. Errors name the file and the line, never echo a value.
    public static func load(path: String) throws(StrongroomError) -> AccessPolicy {
        AccessPolicy(source: path)
    }

    /// The decision for `identity` asking for `operation` (on `shareID` when the operation names one).
    /// A nil identity (the transport could not tell who is calling) is always refused.
    public func decide(_ identity: PeerIdentity?, _ operation: PolicyOperation, shareID: String?) -> PolicyDecision {
        PolicyDecision(allowed: false, rule: nil, reason: "no rule grants \(operation.rawValue) to \(identity?.description ?? "an unidentified caller")")
    }
}
