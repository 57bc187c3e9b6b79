/// An error from the share store. It names what failed and what to do, and never carries secret bytes.
public struct StrongroomError: Error, Hashable, CustomStringConvertible {
    /// What kind of failure this is. New codes may be added later.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidShareID = "invalid share id"
            case invalidInput = "invalid input"
            case shareNotFound = "share not found"
            case integrityCheckFailed = "integrity check failed"
            case wrongRootSeed = "wrong root seed"
            case insecurePermissions = "insecure permissions"
            case vaultNotInitialised = "vault not initialised"
            case vaultAlreadyExists = "vault already exists"
            case vaultBusy = "vault busy"
            case configuration = "configuration error"
            case tierUnavailable = "tier unavailable"
            case rotationIncomplete = "rotation incomplete"
            case io = "I/O error"
            case crypto = "crypto failure"
            case hsmUnavailable = "HSM unavailable"
            case hsmLoginFailed = "HSM login failed"
            case keyUnavailable = "key unavailable"
            case cloudUnavailable = "cloud unavailable"
            case accessDenied = "access denied"
            case unsafeFile = "unsafe file"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A share id broke the naming rules (charset, length, `..`, absolute or hidden).
        public static let invalidShareID = Code(.invalidShareID)
        /// An argument was out of range (empty or oversized share, bad metadata, bad version).
        public static let invalidInput = Code(.invalidInput)
        /// No such share, or no such version of it.
        public static let shareNotFound = Code(.shareNotFound)
        /// A stored blob is corrupted, truncated, swapped with another share's, or sealed under
        /// another key. Nothing was released.
        public static let integrityCheckFailed = Code(.integrityCheckFailed)
        /// The root seed does not belong to this vault.
        public static let wrongRootSeed = Code(.wrongRootSeed)
        /// A secret file or directory is readable by others.
        public static let insecurePermissions = Code(.insecurePermissions)
        /// The vault directory has not been created (`strongroom init`).
        public static let vaultNotInitialised = Code(.vaultNotInitialised)
        /// `init` found an existing vault or root seed and left it alone.
        public static let vaultAlreadyExists = Code(.vaultAlreadyExists)
        /// Another process held the vault lock for longer than the lock timeout.
        public static let vaultBusy = Code(.vaultBusy)
        /// A configuration file or setting is missing or malformed.
        public static let configuration = Code(.configuration)
        /// The configured tier is not available in this build or on this machine.
        public static let tierUnavailable = Code(.tierUnavailable)
        /// A key rotation could not rewrap every share; the old key stays active.
        public static let rotationIncomplete = Code(.rotationIncomplete)
        /// A file-system call failed.
        public static let io = Code(.io)
        /// A cryptographic primitive failed for a reason other than integrity.
        public static let crypto = Code(.crypto)

        /// The PKCS#11 module cannot be loaded, the token is not there, or the HSM stayed unreachable
        /// after the layer re-initialised it and retried once.
        public static let hsmUnavailable = Code(.hsmUnavailable)
        /// The HSM refused the PIN (or has none set, or is locked). Never retried.
        public static let hsmLoginFailed = Code(.hsmLoginFailed)
        /// A key-encryption key the vault needs is not in the HSM or KMS (wrong token, or destroyed).
        public static let keyUnavailable = Code(.keyUnavailable)
        /// The S3 or KMS endpoint did not answer (or kept answering 5xx/throttling) after the
        /// bounded retries. The operation changed nothing that is not atomic.
        public static let cloudUnavailable = Code(.cloudUnavailable)
        /// S3 or KMS refused the credentials or the request (wrong keys, bad signature, a policy).
        public static let accessDenied = Code(.accessDenied)
        /// A file or directory inside a vault is not one Strongroom made: a symbolic link, a file with
        /// other hard links, or not a regular file (a directory where a file belongs, a pipe, a device).
        /// Nothing was read or written through it; `erase` removed its name and says so.
        public static let unsafeFile = Code(.unsafeFile)

        /// A short human name of the code.
        public var description: String { base.rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// What failed, and what to do about it.
    public let reason: String
    /// The underlying cause, if any: an errno with its name, a crypto library error. Never secret bytes.
    public let cause: String?

    package init(_ code: Code, _ reason: String, cause: String? = nil) {
        self.code = code
        self.reason = reason
        self.cause = cause
    }

    /// A readable message: the code, the reason and the cause.
    public var description: String {
        if let cause { return "\(code): \(reason) (\(cause))" }
        return "\(code): \(reason)"
    }
}
