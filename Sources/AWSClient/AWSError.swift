import SecureCrypto

/// An error from an AWS-compatible service or from reaching it. It never carries secret bytes:
/// request bodies and credentials are not included, only the operation, the service's error code
/// and message, and its request id.
public struct AWSError: CodedError {
    /// What went wrong.
    public enum Kind: Hashable, Sendable {
        /// The service answered with an error (status, code from the error XML or JSON).
        case service
        /// The service could not be reached, or kept failing, after the bounded retries.
        case unreachable
        /// The answer could not be understood (malformed XML or JSON, missing field).
        case invalidResponse
        /// An endpoint or setting was unusable; nothing was sent.
        case configuration
    }

    /// What kind of failure this is: the service's own error code (`AccessDenied`,
    /// `NotFoundException`, …) when it answered with one, else how the call failed. A string literal
    /// is the code of a service answer, so `error.code == "NoSuchBucket"` reads as it should.
    public struct Code: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
        private enum Base: Hashable, Sendable {
            case service(String?)
            case unreachable
            case invalidResponse
            case configuration
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The service answered with error code `code` (nil: an answer without one, such as a bare 500).
        public static func service(_ code: String?) -> Code { Code(.service(code)) }
        /// The service could not be reached, or kept failing.
        public static let unreachable = Code(.unreachable)
        /// The answer could not be understood.
        public static let invalidResponse = Code(.invalidResponse)
        /// An endpoint or setting was unusable; nothing was sent.
        public static let configuration = Code(.configuration)

        /// The code of a service answer with this error code.
        public init(stringLiteral value: String) { self.init(.service(value)) }

        /// The kind of failure this code belongs to.
        public var kind: Kind {
            switch base {
            case .service: .service
            case .unreachable: .unreachable
            case .invalidResponse: .invalidResponse
            case .configuration: .configuration
            }
        }

        /// The service's error code, when it answered with one.
        public var serviceCode: String? {
            if case .service(let code) = base { return code }
            return nil
        }

        /// The service's code, or the kind of failure.
        public var description: String {
            switch base {
            case .service(let code): code ?? "service error"
            case .unreachable: "unreachable"
            case .invalidResponse: "invalid response"
            case .configuration: "configuration"
            }
        }
    }

    /// What kind of failure this is (see ``Code``).
    public let code: Code
    /// The operation, e.g. `S3 PutObject shares/a/1.srb` or `KMS Decrypt`.
    public let operation: String
    /// The HTTP status, when the service answered.
    public let status: Int?
    /// The service's message, or what failed.
    public let message: String
    /// The service's request id, for its support.
    public let requestID: String?
    /// How many attempts were made.
    public let attempts: Int
    /// The error this one was made from (the transport's error for an unreachable service), if any.
    public let underlying: (any Error & Sendable)?

    /// What went wrong (the kind of ``code``).
    public var kind: Kind { code.kind }
    /// The service's error code (`AccessDenied`, `NotFoundException`, `PreconditionFailed`), when it
    /// answered with one.
    public var serviceCode: String? { code.serviceCode }
    /// What failed: the readable message (see ``description``).
    public var reason: String { description }

    /// Creates an error; `code` is the service's error code (for `kind` `.service`).
    public init(
        kind: Kind, operation: String, status: Int? = nil, code: String? = nil, message: String,
        requestID: String? = nil, attempts: Int = 1, underlying: (any Error & Sendable)? = nil
    ) {
        let full: Code
        switch kind {
        case .service: full = .service(code)
        case .unreachable: full = .unreachable
        case .invalidResponse: full = .invalidResponse
        case .configuration: full = .configuration
        }
        self.init(
            operation: operation, status: status, code: full, message: message, requestID: requestID, attempts: attempts,
            underlying: underlying)
    }

    /// Creates an error with this code (the kind follows from it). `kind` is accepted, and ignored, so
    /// a copy of another error (`AWSError(kind: e.kind, …, code: e.code, …)`) reads as before.
    public init(
        kind: Kind? = nil, operation: String, status: Int? = nil, code: Code, message: String, requestID: String? = nil,
        attempts: Int = 1, underlying: (any Error & Sendable)? = nil
    ) {
        self.code = code
        self.operation = operation
        self.status = status
        self.message = message
        self.requestID = requestID
        self.attempts = attempts
        self.underlying = underlying
    }

    static func configuration(_ message: String) -> AWSError {
        AWSError(kind: .configuration, operation: "configuration", message: message, attempts: 0)
    }

    /// True for 403-class refusals: wrong or unknown credentials, a bad signature, a denying policy.
    public var isAccessDenied: Bool {
        guard kind == .service else { return false }
        if status == 403 { return true }
        return [
            "AccessDenied", "AccessDeniedException", "InvalidAccessKeyId", "SignatureDoesNotMatch",
            "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignature", "ExpiredToken",
            "ExpiredTokenException",
        ].contains(serviceCode ?? "")
    }

    /// True for the services' "slow down" codes (sent with HTTP 400 or 503).
    public static func isThrottling(_ code: Code) -> Bool { isThrottling(code.serviceCode) }

    /// True for the services' "slow down" codes (sent with HTTP 400 or 503).
    public static func isThrottling(_ code: String?) -> Bool {
        ["SlowDown", "Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded", "TooManyRequestsException"]
            .contains(code ?? "")
    }

    /// A readable message: operation, status and code, message, request id and attempts.
    public var description: String {
        var text = "\(operation): "
        switch kind {
        case .service:
            text += "\(status.map { "HTTP \($0) " } ?? "")\(serviceCode ?? "error"): \(message)"
        case .unreachable:
            text += "unreachable: \(message)"
        case .invalidResponse:
            text += "invalid response: \(message)"
        case .configuration:
            text += message
        }
        if let requestID { text += " (request id \(requestID))" }
        if attempts > 1 { text += " after \(attempts) attempts" }
        return text
    }
}
