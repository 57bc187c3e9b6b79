/// An error from the FROST engine. It says what failed and what to do, and never carries secret bytes.
public struct FROSTError: Error, Hashable, CustomStringConvertible {
    /// What kind of failure this is.
    public enum Code: String, Hashable, Sendable {
        /// An argument broke the protocol's rules (threshold, identifiers, duplicate or unsorted commitments).
        case invalidInput = "invalid input"
        /// Bytes that should encode a scalar, an element or a package do not.
        case malformedEncoding = "malformed encoding"
        /// One or more signature shares do not verify; ``FROSTError/culprits`` names their senders.
        case invalidSignatureShare = "invalid signature share"
        /// The signature does not verify under the group key.
        case invalidSignature = "invalid signature"
        /// A DKG or refresh package failed its proof of knowledge or its commitment check.
        case invalidPackage = "invalid package"
        /// A signing session was already used; nonces are single-use.
        case sessionUsed = "signing session already used"
        /// A signing session is older than its lifetime; its nonces were wiped.
        case sessionExpired = "signing session expired"
        /// A participant's key share is gone (erased) from its store.
        case shareGone = "key share gone"
        /// The group's stored public data is missing or inconsistent with its key packages.
        case groupState = "group state"
        /// A refresh did not finish; the old shares are still in force.
        case refreshIncomplete = "refresh incomplete"
    }

    /// What kind of failure this is.
    public let code: Code
    /// What failed and what to do about it.
    public let reason: String
    /// The participants whose contribution failed verification, if any.
    public let culprits: [UInt16]

    /// Creates an error.
    public init(_ code: Code, _ reason: String, culprits: [UInt16] = []) {
        self.code = code
        self.reason = reason
        self.culprits = culprits
    }

    /// `code: reason`.
    public var description: String { "\(code.rawValue): \(reason)" }
}
