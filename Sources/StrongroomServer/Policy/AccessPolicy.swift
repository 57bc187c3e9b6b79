import StrongroomCore

/// The server's access policy: deny by default (docs/server.md, "Access policy").
///
/// A policy names identities (a Unix uid, or a TLS client certificate's subject) and rules; a rule
/// grants some identities some operations, and, for the operations that name a share (store, load,
/// list, versions, erase), only on the shares its patterns match. A request is allowed when at least
/// one rule grants it; nothing else is.
public struct AccessPolicy: Sendable {
    /// Where the policy was read from (a path), for messages.
    public let source: String
    /// The identities the policy names, in file order.
    public let identities: [Identity]
    /// The rules, in file order.
    public let rules: [Rule]

    /// A named caller: one uid or one certificate subject.
    public struct Identity: Sendable, Hashable {
        /// The name rules use for it (`engine-a`).
        public let name: String
        /// Who it is.
        public let match: PeerIdentity.Kind
    }

    /// One grant: identities × operations × share patterns.
    public struct Rule: Sendable, Hashable {
        /// The rule's name, recorded as the `policy` detail of every operation it allows.
        public let name: String
        /// The names of the identities it grants.
        public let identities: [String]
        /// The operations it grants.
        public let operations: Set<PolicyOperation>
        /// The shares its share operations apply to (empty when it grants no share operation).
        public let shares: [SharePattern]
    }

    /// Makes a policy from parts already checked (``load(path:)`` and ``parse(_:source:)`` check them).
    init(source: String, identities: [Identity], rules: [Rule]) {
        self.source = source
        self.identities = identities
        self.rules = rules
    }

    /// The decision for `identity` asking for `operation` (on `shareID` when the operation names one).
    /// A nil identity (the transport could not tell who is calling) is always refused.
    ///
    /// For a share operation with a nil `shareID` (List before its results are filtered), the answer
    /// is whether some rule grants the operation on some share; the caller then asks again per share.
    public func decide(_ identity: PeerIdentity?, _ operation: PolicyOperation, shareID: String?) -> PolicyDecision {
        guard let identity else {
            return PolicyDecision(
                allowed: false, rule: nil,
                reason: "the caller has no identity (neither a Unix socket peer uid nor a TLS client certificate), so the access policy grants it nothing")
        }
        let names = identities.filter { $0.match == identity.kind }.map(\.name)
        let shown = names.isEmpty ? identity.description : "\(identity.description) (identity \(names.joined(separator: ", ")))"
        let target = operation.namesShare ? shareID.map { " on share \(ShareID.quoted($0))" } ?? "" : ""
        guard !names.isEmpty else {
            return PolicyDecision(
                allowed: false, rule: nil,
                reason: "the access policy names no identity for \(identity.description), so it may not \(operation.rawValue)\(target)")
        }
        for rule in rules where rule.operations.contains(operation) && rule.identities.contains(where: names.contains) {
            if operation.namesShare {
                guard let shareID else {
                    if !rule.shares.isEmpty {
                        return PolicyDecision(allowed: true, rule: rule.name, reason: "rule \(rule.name) grants \(operation.rawValue) to \(shown) on some shares")
                    }
                    continue
                }
                guard rule.shares.contains(where: { $0.matches(shareID) }) else { continue }
            }
            return PolicyDecision(allowed: true, rule: rule.name, reason: "rule \(rule.name) grants \(operation.rawValue)\(target) to \(shown)")
        }
        return PolicyDecision(
            allowed: false, rule: nil,
            reason: "no rule of the access policy grants \(operation.rawValue)\(target) to \(shown)")
    }
}

/// Which shares a rule's share operations apply to: `*` (every share), `prefix*` (every id starting
/// with `prefix`), or one exact share id.
public struct SharePattern: Sendable, Hashable, CustomStringConvertible {
    /// How the pattern matches.
    public enum Kind: Sendable, Hashable {
        /// Every share id.
        case any
        /// Ids that start with the text.
        case prefix(String)
        /// Exactly this id.
        case exact(String)
    }

    /// How the pattern matches.
    public let kind: Kind

    /// Parses a pattern; the error says what is wrong without repeating the text.
    public init(_ text: String) throws(PolicyPatternError) {
        if text == "*" {
            kind = .any
            return
        }
        guard !text.isEmpty else { throw PolicyPatternError("is empty; write '*' for every share") }
        var body = Substring(text)
        let isPrefix = body.hasSuffix("*")
        if isPrefix { body = body.dropLast() }
        if body.contains("*") {
            throw PolicyPatternError("has a '*' that is not its last character; a pattern is '*', an exact share id, or a prefix followed by '*'")
        }
        if body.contains("/") {
            throw PolicyPatternError("contains '/', which share ids never do, so it would match nothing; write a prefix such as engine-a.* or engine-a-*")
        }
        for byte in body.utf8 {
            let allowed = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A)
                || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2E || byte == 0x5F || byte == 0x2D
            guard allowed else { throw PolicyPatternError("has a character share ids never contain (they use A-Z a-z 0-9 . _ -)") }
        }
        guard body.utf8.count <= ShareID.maximumLength else {
            throw PolicyPatternError("is longer than the longest share id (\(ShareID.maximumLength) characters)")
        }
        if isPrefix {
            kind = .prefix(String(body))
        } else {
            do throws(StrongroomError) {
                _ = try ShareID(text)
            } catch {
                throw PolicyPatternError("is not a valid share id (ids do not start with '.' or '-' and never contain '..')")
            }
            kind = .exact(text)
        }
    }

    /// Whether the pattern covers `shareID`.
    public func matches(_ shareID: String) -> Bool {
        switch kind {
        case .any: return true
        case .prefix(let prefix): return shareID.hasPrefix(prefix)
        case .exact(let id): return shareID == id
        }
    }

    /// The pattern as written.
    public var description: String {
        switch kind {
        case .any: return "*"
        case .prefix(let prefix): return prefix + "*"
        case .exact(let id): return id
        }
    }
}

/// Why a share pattern was refused (completes "the share pattern …").
public struct PolicyPatternError: Error, Sendable {
    /// What is wrong with the pattern.
    public let reason: String
    init(_ reason: String) { self.reason = reason }
}
