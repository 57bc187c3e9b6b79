import SecureCrypto

/// An error from the FROST engine. It says what failed and what to do, and never carries secret bytes.
public struct FROSTError: CodedError {
    /// What kind of failure this is. New codes may be added later.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidInput = "invalid input"
            case malformedEncoding = "malformed encoding"
            case invalidSignatureShare = "invalid signature share"
            case invalidSignature = "invalid signature"
            case invalidPackage = "invalid package"
            case sessionUsed = "signing session already used"
            case sessionExpired = "signing session expired"
            case shareGone = "key share gone"
            case groupState = "group state"
            case refreshIncomplete = "refresh incomplete"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// An argument broke the protocol's rules (threshold, identifiers, duplicate or unsorted commitments).
        public static let invalidInput = Code(.invalidInput)
        /// Bytes that should encode a scalar, an element, a package or a protocol message do not.
        public static let malformedEncoding = Code(.malformedEncoding)
        /// One or more signature shares do not verify; ``FROSTError/culprits`` names their senders.
        public static let invalidSignatureShare = Code(.invalidSignatureShare)
        /// The signature does not verify under the group key.
        public static let invalidSignature = Code(.invalidSignature)
        /// A DKG or refresh package failed its proof of knowledge, its commitment check or its session.
        public static let invalidPackage = Code(.invalidPackage)
        /// A signing session was already used; nonces are single-use.
        public static let sessionUsed = Code(.sessionUsed)
        /// A signing session is older than its lifetime; its nonces were wiped.
        public static let sessionExpired = Code(.sessionExpired)
        /// A participant's key share is gone (erased) from its store.
        public static let shareGone = Code(.shareGone)
        /// The group's stored public data is missing or inconsistent with its key packages.
        public static let groupState = Code(.groupState)
        /// A refresh did not finish; the old shares are still in force.
        public static let refreshIncomplete = Code(.refreshIncomplete)

        /// A short human name of the code (`invalid input`, `malformed encoding`, ...).
        public var description: String { base.rawValue }
        /// The same as ``description`` (kept for callers of the former enum).
        public var rawValue: String { base.rawValue }
    }

    /// What kind of failure this is.
    public let code: Code
    /// What failed and what to do about it.
    public let reason: String
    /// The participants whose contribution failed verification, if any.
    public let culprits: [UInt16]
    /// The error this one was made from, if any.
    public let underlying: (any Error & Sendable)?

    /// Creates an error.
    public init(_ code: Code, _ reason: String, culprits: [UInt16] = [], underlying: (any Error & Sendable)? = nil) {
        self.code = code
        self.reason = reason
        self.culprits = culprits
        self.underlying = underlying
    }

    /// `code: reason`.
    public var description: String { "\(code): \(reason)" }
}
