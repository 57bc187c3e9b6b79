import SecureCrypto

/// An error from the share store or a tier. It names what failed and what to do, and never carries
/// secret bytes. Equal when the codes are (``CodedError``).
public struct StrongroomError: CodedError {
    /// What kind of failure this is. New codes may be added later.
    /// What kind of failure this is. A code is a name plus the exit status the CLI uses for it; the
    /// core's codes are below, and a tier module declares its own with ``init(_:exitStatus:)`` in an
    /// extension (`StrongroomError.Code.hsmUnavailable` lives in StrongroomHSM).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// A short human name of the code, unique among all codes.
        public let name: String
        /// The process exit status for this code (sysexits.h values; see `strongroom --help`).
        public let exitStatus: Int32

        /// Declares a code. `name` must be unique; codes compare by name.
        public init(_ name: String, exitStatus: Int32) {
            self.name = name
            self.exitStatus = exitStatus
        }

        public static func == (lhs: Code, rhs: Code) -> Bool { lhs.name == rhs.name }
        public func hash(into hasher: inout Hasher) { hasher.combine(name) }

        /// A share id broke the naming rules (charset, length, `..`, absolute or hidden).
        public static let invalidShareID = Code("invalid share id", exitStatus: 64)
        /// An argument was out of range (empty or oversized share, bad metadata, bad version).
        public static let invalidInput = Code("invalid input", exitStatus: 64)
        /// No such share, or no such version of it.
        public static let shareNotFound = Code("share not found", exitStatus: 66)
        /// A stored blob is corrupted, truncated, swapped with another share's, or sealed under
        /// another key. Nothing was released.
        public static let integrityCheckFailed = Code("integrity check failed", exitStatus: 65)
        /// A secret file or directory is readable by others.
        public static let insecurePermissions = Code("insecure permissions", exitStatus: 77)
        /// The vault has not been created (`strongroom init`).
        public static let vaultNotInitialised = Code("vault not initialised", exitStatus: 66)
        /// `init` found an existing vault or key material and left it alone.
        public static let vaultAlreadyExists = Code("vault already exists", exitStatus: 73)
        /// Another process held the vault lock for longer than the lock timeout.
        public static let vaultBusy = Code("vault busy", exitStatus: 75)
        /// A configuration file or setting is missing or malformed.
        public static let configuration = Code("configuration error", exitStatus: 78)
        /// The configured tier is not available in this build or on this machine.
        public static let tierUnavailable = Code("tier unavailable", exitStatus: 69)
        /// A key rotation could not rewrap every share; the old key stays active.
        public static let rotationIncomplete = Code("rotation incomplete", exitStatus: 65)
        /// A file-system call failed.
        public static let io = Code("I/O error", exitStatus: 74)
        /// A cryptographic primitive failed for a reason other than integrity.
        public static let crypto = Code("crypto failure", exitStatus: 70)
        /// A key-encryption key the vault needs is not in its key store (wrong token or KMS account,
        /// or destroyed).
        public static let keyUnavailable = Code("key unavailable", exitStatus: 69)
        /// The tier's key store or blob store refused the credentials or the request.
        public static let accessDenied = Code("access denied", exitStatus: 77)
        /// A file or directory inside a vault is not one Strongroom made: a symbolic link, a file with
        /// other hard links, or not a regular file (a directory where a file belongs, a pipe, a device).
        /// Nothing was read or written through it; `erase` removed its name and says so.
        public static let unsafeFile = Code("unsafe file", exitStatus: 65)

        /// A short human name of the code.
        public var description: String { name }
    }

    /// The kind of failure.
    public let code: Code
    /// What failed, and what to do about it.
    public let reason: String
    /// The underlying cause as text, if any: an errno with its name, a crypto library error, a
    /// `CK_RV`. Never secret bytes.
    public let cause: String?
    /// The error this one was made from, if any (a ``CryptoError``, `PKCS11Error`, `AWSError`, `Errno`).
    public let underlying: (any Error & Sendable)?

    /// Creates an error. `reason` says what failed and what to do; `cause` is the underlying cause as
    /// text (defaults to `underlying`'s description).
    public init(_ code: Code, _ reason: String, cause: String? = nil, underlying: (any Error & Sendable)? = nil) {
        self.code = code
        self.reason = reason
        self.cause = cause ?? underlying.map { "\($0)" }
        self.underlying = underlying
    }

    /// A readable message: the code, the reason and the cause.
    public var description: String {
        if let cause { return "\(code): \(reason) (\(cause))" }
        return "\(code): \(reason)"
    }
}

extension StrongroomError {
    /// Runs SecureCrypto code, turning a ``CryptoError`` into a ``StrongroomError``: a tag or wrapped
    /// key that does not verify is ``Code/integrityCheckFailed``, anything else ``Code/crypto``.
    public static func mappingCrypto<T>(_ body: () throws(CryptoError) -> T) throws(StrongroomError) -> T {
        do {
            return try body()
        } catch where error.code == .authenticationFailed {
            throw StrongroomError(.integrityCheckFailed, error.reason)
        } catch {
            throw StrongroomError(.crypto, error.reason, cause: error.libraryErrors.joined(separator: "; "))
        }
    }
}
