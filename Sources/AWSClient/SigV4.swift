#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SecureCrypto
import Synchronization

/// AWS Signature Version 4 (header authorization, `AWS4-HMAC-SHA256`), as specified in the AWS
/// General Reference ("Signature Version 4 signing process") and checked against the AWS SigV4 test
/// suite in the tests.
///
/// The signer takes decoded paths and query parameters and encodes them itself, the way the
/// canonical request needs them (RFC 3986 unreserved characters kept, everything else `%XX` in upper
/// case, `/` kept in paths). S3 signs paths as they are (`normalizePath: false`) and carries the
/// payload hash in `x-amz-content-sha256`; KMS and the generic suite normalise paths.
public struct SigV4Signer: Sendable {
    /// How the canonical request is formed.
    public struct Options: Sendable, Hashable {
        /// Remove `.` and `..` segments and empty segments from the path (not for S3).
        public var normalizePath: Bool
        /// Add and sign an `x-amz-content-sha256` header with the payload hash (S3 needs it).
        public var signPayloadHashHeader: Bool

        /// Creates options.
        public init(normalizePath: Bool, signPayloadHashHeader: Bool) {
            self.normalizePath = normalizePath
            self.signPayloadHashHeader = signPayloadHashHeader
        }

        /// S3: paths signed as they are, payload hash header signed.
        public static let s3 = Options(normalizePath: false, signPayloadHashHeader: true)
        /// Other services (KMS): normalised paths, no payload hash header.
        public static let standard = Options(normalizePath: true, signPayloadHashHeader: false)
    }

    /// The pieces of a request that are signed.
    public struct Request: Sendable {
        /// The HTTP method.
        public var method: String
        /// The decoded path, starting with `/`.
        public var path: String
        /// Decoded query parameters, in any order.
        public var query: [(String, String)]
        /// Headers to sign, in any order; `host` must be among them.
        public var headers: [(String, String)]
        /// The lowercase hex SHA-256 of the payload.
        public var payloadHash: String

        /// Creates a request.
        public init(method: String, path: String, query: [(String, String)], headers: [(String, String)], payloadHash: String) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.payloadHash = payloadHash
        }
    }

    /// The credentials requests are signed with.
    public let credentials: AWSCredentials
    /// The region (`us-east-1`).
    public let region: String
    /// The service name in the credential scope (`s3`, `kms`).
    public let service: String
    /// How the canonical request is formed.
    public let options: Options
    private let cache: SigningKeyCache

    /// Creates a signer.
    public init(credentials: AWSCredentials, region: String, service: String, options: Options) {
        self.credentials = credentials
        self.region = region
        self.service = service
        self.options = options
        self.cache = SigningKeyCache()
    }

    // MARK: Signing

    /// Everything signing produced: the intermediate strings (for tests and debugging; no secrets)
    /// and the headers to add to the request.
    public struct Signed: Sendable {
        /// The canonical request.
        public var canonicalRequest: String
        /// The string to sign.
        public var stringToSign: String
        /// The hex signature.
        public var signature: String
        /// `x-amz-date`, `x-amz-content-sha256` (S3), `x-amz-security-token` (temporary
        /// credentials) and `authorization`.
        public var headers: [(String, String)]
    }

    /// Signs `request` at `timestamp` (`YYYYMMDD'T'HHMMSS'Z'`).
    public func sign(_ request: Request, timestamp: String) throws -> Signed {
        var request = request
        var added: [(String, String)] = [("x-amz-date", timestamp)]
        if options.signPayloadHashHeader { added.append(("x-amz-content-sha256", request.payloadHash)) }
        if let token = credentials.sessionToken {
            added.append(("x-amz-security-token", token.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }))
        }
        request.headers += added
        let (canonical, signedHeaders) = canonicalRequest(for: request)
        let toSign = stringToSign(canonicalRequest: canonical, timestamp: timestamp)
        let signature = try self.signature(stringToSign: toSign, timestamp: timestamp)
        added.append(("authorization", authorization(signedHeaders: signedHeaders, signature: signature, timestamp: timestamp)))
        return Signed(canonicalRequest: canonical, stringToSign: toSign, signature: signature, headers: added)
    }

    /// The `Authorization` header value.
    public func authorization(signedHeaders: String, signature: String, timestamp: String) -> String {
        "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope(timestamp)), SignedHeaders=\(signedHeaders), Signature=\(signature)"
    }

    /// The credential scope: `date/region/service/aws4_request`.
    public func scope(_ timestamp: String) -> String {
        "\(timestamp.prefix(8))/\(region)/\(service)/aws4_request"
    }

    /// The canonical request and the signed-header list.
    public func canonicalRequest(for request: Request) -> (canonical: String, signedHeaders: String) {
        // Header names lower-cased; values trimmed with inner runs of whitespace (and folded lines)
        // collapsed to one space; repeated names joined with commas in the order given.
        var merged: [String: [String]] = [:]
        var names: [String] = []
        for (name, value) in request.headers {
            let key = name.lowercased()
            if merged[key] == nil { names.append(key) }
            merged[key, default: []].append(SigV4Signer.collapseWhitespace(value))
        }
        names.sort { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        let canonicalHeaders = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let path = options.normalizePath ? SigV4Signer.normalized(request.path) : request.path
        let canonical = [
            request.method,
            SigV4Signer.encode(path, keepSlash: true),
            SigV4Signer.canonicalQuery(request.query),
            canonicalHeaders,
            signedHeaders,
            request.payloadHash,
        ].joined(separator: "\n")
        return (canonical, signedHeaders)
    }

    /// The string to sign for a canonical request.
    public func stringToSign(canonicalRequest: String, timestamp: String) -> String {
        "AWS4-HMAC-SHA256\n\(timestamp)\n\(scope(timestamp))\n\(SHA256.hexHash(Array(canonicalRequest.utf8)))"
    }

    /// The hex signature of a string to sign, with the day's signing key (derived once per day).
    public func signature(stringToSign: String, timestamp: String) throws -> String {
        let key = try signingKey(date: String(timestamp.prefix(8)))
        return Hex.encode(HMACSHA256.mac(key: key, message: Array(stringToSign.utf8)))
    }

    /// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"),
    /// every intermediate key in locked memory.
    func signingKey(date: String) throws -> SecretBytes {
        if let cached = cache.key(for: date) { return cached }
        let secret = credentials.secretAccessKey
        let prefixed = try SecretBytes(count: 4 + secret.count) { buffer in
            buffer.copyBytes(from: Array("AWS4".utf8))
            secret.withUnsafeBytes { source in
                if source.count > 0 {
                    UnsafeMutableRawBufferPointer(rebasing: buffer[4...]).copyMemory(from: source)
                }
            }
        }
        var key = try HMACSHA256.derive(key: prefixed, message: Array(date.utf8))
        for part in [region, service, "aws4_request"] {
            key = try HMACSHA256.derive(key: key, message: Array(part.utf8))
        }
        cache.store(key, for: date)
        return key
    }

    // MARK: Canonical forms

    /// Percent-encodes UTF-8 bytes except RFC 3986 unreserved characters (and `/` when asked).
    public static func encode(_ text: String, keepSlash: Bool) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        let hex: [UInt8] = Array("0123456789ABCDEF".utf8)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                out.append(byte)
            case UInt8(ascii: "/") where keepSlash:
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `%XX` escapes (and nothing else); invalid escapes are kept as they are.
    public static func percentDecode(_ text: String) -> String {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var index = 0
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x41...0x46: c - 0x41 + 10
            case 0x61...0x66: c - 0x61 + 10
            default: nil
            }
        }
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
                let high = value(bytes[index + 1]), let low = value(bytes[index + 2])
            {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses a raw query string (`a=1&b`) into decoded pairs.
    public static func parseQuery(_ raw: String) -> [(String, String)] {
        guard !raw.isEmpty else { return [] }
        return raw.split(separator: "&", omittingEmptySubsequences: true).map { part in
            if let equals = part.firstIndex(of: "=") {
                return (percentDecode(String(part[..<equals])), percentDecode(String(part[part.index(after: equals)...])))
            }
            return (percentDecode(String(part)), "")
        }
    }

    /// The canonical query string: every name and value encoded, sorted by name then value.
    public static func canonicalQuery(_ query: [(String, String)]) -> String {
        query.map { (encode($0.0, keepSlash: false), encode($0.1, keepSlash: false)) }
            .sorted { lhs, rhs in
                lhs.0 == rhs.0
                    ? Array(lhs.1.utf8).lexicographicallyPrecedes(Array(rhs.1.utf8))
                    : Array(lhs.0.utf8).lexicographicallyPrecedes(Array(rhs.0.utf8))
            }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// A path with `.`, `..` and empty segments removed; a trailing slash is kept.
    static func normalized(_ path: String) -> String {
        var segments: [Substring] = []
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        for part in parts {
            switch part {
            case "", ".": continue
            case "..": _ = segments.popLast()
            default: segments.append(part)
            }
        }
        var result = "/" + segments.joined(separator: "/")
        if !segments.isEmpty, path.hasSuffix("/") { result += "/" }
        return result
    }

    static func collapseWhitespace(_ value: String) -> String {
        var out: [UInt8] = []
        var pendingSpace = false
        for byte in value.utf8 {
            if byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(0x20) }
                pendingSpace = false
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// The signing key of the current day, kept in locked memory so each request costs one HMAC.
final class SigningKeyCache: Sendable {
    private let entry = Mutex<(date: String, key: SecretBytes)?>(nil)

    func key(for date: String) -> SecretBytes? {
        entry.withLock { $0?.date == date ? $0?.key : nil }
    }

    func store(_ key: SecretBytes, for date: String) {
        entry.withLock { $0 = (date, key) }
    }
}

/// The request time in the forms SigV4 needs.
public enum AWSTimestamp {
    /// `YYYYMMDD'T'HHMMSS'Z'` for the current UTC time.
    public static func now() -> String {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        var seconds = time.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return pad(parts.tm_year + 1900, 4) + pad(parts.tm_mon + 1, 2) + pad(parts.tm_mday, 2) + "T"
            + pad(parts.tm_hour, 2) + pad(parts.tm_min, 2) + pad(parts.tm_sec, 2) + "Z"
    }
}
