/// An error from an AWS-compatible service or from reaching it. It never carries secret bytes:
/// request bodies and credentials are not included, only the operation, the service's error code
/// and message, and its request id.
public struct AWSError: Error, Hashable, CustomStringConvertible {
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

    /// What went wrong.
    public let kind: Kind
    /// The operation, e.g. `S3 PutObject shares/a/1.srb` or `KMS Decrypt`.
    public let operation: String
    /// The HTTP status, when the service answered.
    public let status: Int?
    /// The service's error code (`AccessDenied`, `NotFoundException`, `PreconditionFailed`).
    public let code: String?
    /// The service's message, or what failed.
    public let message: String
    /// The service's request id, for its support.
    public let requestID: String?
    /// How many attempts were made.
    public let attempts: Int

    /// Creates an error.
    public init(
        kind: Kind, operation: String, status: Int? = nil, code: String? = nil, message: String,
        requestID: String? = nil, attempts: Int = 1
    ) {
        self.kind = kind
        self.operation = operation
        self.status = status
        self.code = code
        self.message = message
        self.requestID = requestID
        self.attempts = attempts
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
        ].contains(code ?? "")
    }

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
            text += "\(status.map { "HTTP \($0) " } ?? "")\(code ?? "error"): \(message)"
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
