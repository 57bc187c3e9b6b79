internal import COpenSSL

/// An error from the SecureCrypto module. It never carries secret bytes. Equal when the codes are.
public struct CryptoError: CodedError {
    /// What kind of failure this is. New codes may be added later.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case authenticationFailed = "authentication failed"
            case invalidInput = "invalid input"
            case libraryFailure = "crypto library failure"
            case outOfSecureMemory = "out of secure memory"
            case randomFailure = "random generator failure"
            case processHardeningFailed = "process hardening failed"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A tag, wrapped key or ciphertext did not verify: wrong key, or the data was altered.
        public static let authenticationFailed = Code(.authenticationFailed)
        /// A key, nonce or buffer had the wrong size or shape.
        public static let invalidInput = Code(.invalidInput)
        /// OpenSSL or libsodium failed; see ``CryptoError/libraryErrors``.
        public static let libraryFailure = Code(.libraryFailure)
        /// Locked memory could not be allocated (check `ulimit -l`).
        public static let outOfSecureMemory = Code(.outOfSecureMemory)
        /// The random generator failed.
        public static let randomFailure = Code(.randomFailure)
        /// Core dumps could not be turned off (``ProcessHardening/disableCoreDumps()``).
        public static let processHardeningFailed = Code(.processHardeningFailed)

        /// A short human name of the code.
        public var description: String { base.rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// What failed, and what to do.
    public let reason: String
    /// The OpenSSL error queue at the time of the failure, oldest first (empty when not from OpenSSL).
    public let libraryErrors: [String]
    /// The error this one was made from, if any.
    public let underlying: (any Error & Sendable)?

    /// Creates an error; modules that build on SecureCrypto (and tests) report crypto failures with it.
    public init(_ code: Code, _ reason: String, libraryErrors: [String] = [], underlying: (any Error & Sendable)? = nil) {
        self.code = code
        self.reason = reason
        self.libraryErrors = libraryErrors
        self.underlying = underlying
    }

    /// An error carrying the drained OpenSSL error queue.
    static func openSSL(_ code: Code, _ reason: String) -> CryptoError {
        CryptoError(code, reason, libraryErrors: drainOpenSSLErrors())
    }

    /// A readable message: the code, the reason and any OpenSSL errors.
    public var description: String {
        var text = "\(code): \(reason)"
        if !libraryErrors.isEmpty { text += " [openssl: \(libraryErrors.joined(separator: "; "))]" }
        return text
    }
}

/// Empties this thread's OpenSSL error queue and returns its entries as text.
func drainOpenSSLErrors() -> [String] {
    var messages: [String] = []
    while true {
        let code = ERR_get_error()
        if code == 0 { break }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    return messages
}
