#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SecureCrypto

/// AWS credentials: an access key id (public) and a secret access key, plus a session token for
/// temporary credentials. The secret parts live in locked memory and never print.
public struct AWSCredentials: Sendable, CustomStringConvertible {
    /// The access key id (`AKIA…`, `ASIA…`). Not secret; it appears in every request.
    public let accessKeyID: String
    /// The secret access key.
    public let secretAccessKey: SecretBytes
    /// The session token of temporary (STS) credentials, if any.
    public let sessionToken: SecretBytes?

    /// Creates credentials.
    public init(accessKeyID: String, secretAccessKey: SecretBytes, sessionToken: SecretBytes? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    /// The access key id and `<REDACTED>` for the secret parts.
    public var description: String {
        "AWSCredentials(accessKeyID: \(accessKeyID), secretAccessKey: <REDACTED>\(sessionToken == nil ? "" : ", sessionToken: <REDACTED>"))"
    }

    /// Credentials from the standard variables `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
    /// `AWS_SESSION_TOKEN`, read straight into locked memory; nil when either of the first two is unset.
    public static func fromEnvironment() throws -> AWSCredentials? {
        guard let id = environmentString("AWS_ACCESS_KEY_ID"), !id.isEmpty,
            let secret = try environmentSecret("AWS_SECRET_ACCESS_KEY")
        else { return nil }
        return AWSCredentials(
            accessKeyID: id, secretAccessKey: secret, sessionToken: try environmentSecret("AWS_SESSION_TOKEN"))
    }

    static func environmentString(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }

    /// Copies an environment variable's bytes into locked memory without making a `String` of them.
    static func environmentSecret(_ name: String) throws -> SecretBytes? {
        guard let value = getenv(name) else { return nil }
        let length = strlen(value)
        guard length > 0 else { return nil }
        return try SecretBytes(copying: UnsafeRawBufferPointer(start: value, count: length))
    }
}
