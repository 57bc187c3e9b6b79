import Logging
import NIOCore
import NIOHTTP1

/// How bucket names appear in request URLs.
public enum S3Addressing: String, Sendable, Hashable, CaseIterable {
    /// `https://endpoint/bucket/key` (MinIO, Ceph RGW, moto, and any endpoint given by address).
    case path
    /// `https://bucket.endpoint/key` (AWS S3's default; needs DNS names for buckets).
    case virtualHosted = "virtual"
}

/// Where and how an ``S3Client`` talks to its bucket.
public struct S3Configuration: Sendable {
    /// The S3 endpoint (`https://s3.eu-west-1.amazonaws.com`, `http://127.0.0.1:9000`).
    public var endpoint: AWSEndpoint
    /// The region used in signatures.
    public var region: String
    /// The bucket.
    public var bucket: String
    /// Path-style or virtual-hosted addressing.
    public var addressing: S3Addressing
    /// The credentials requests are signed with.
    public var credentials: AWSCredentials
    /// Retries on throttling, 5xx and connection errors.
    public var retry: RetryPolicy

    /// Creates a configuration. The bucket name must be 3 to 63 characters of `a-z`, `0-9`, `.`, `-`.
    public init(
        endpoint: AWSEndpoint, region: String, bucket: String, addressing: S3Addressing = .path,
        credentials: AWSCredentials, retry: RetryPolicy = RetryPolicy()
    ) throws(AWSError) {
        let allowed = bucket.utf8.allSatisfy { byte in
            (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte) || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "-")
        }
        guard (3...63).contains(bucket.utf8.count), allowed else {
            throw AWSError.configuration("bucket name '\(bucket)' must be 3 to 63 characters of a-z, 0-9, '.' and '-'")
        }
        if addressing == .virtualHosted && bucket.contains(".") && endpoint.scheme == "https" {
            throw AWSError.configuration(
                "bucket '\(bucket)' has dots, which break TLS certificate checks with virtual-hosted addressing; use path addressing")
        }
        self.endpoint = endpoint
        self.region = region
        self.bucket = bucket
        self.addressing = addressing
        self.credentials = credentials
        self.retry = retry
    }
}

/// An object read from S3.
public struct S3Object: Sendable, Hashable {
    /// The object's key.
    public var key: String
    /// Its bytes.
    public var bytes: [UInt8]
    /// Its ETag, quotes included, as conditional requests need it.
    public var etag: String
    /// Its version id in a versioned bucket.
    public var versionID: String?
}

/// One object version or delete marker in a versioned bucket.
public struct S3ObjectVersion: Sendable, Hashable {
    /// The key.
    public var key: String
    /// The version id (`null` for objects written before versioning was enabled).
    public var versionID: String
    /// True for a delete marker.
    public var isDeleteMarker: Bool
}

/// What a conditional PUT requires.
public enum S3WriteCondition: Sendable, Hashable {
    /// Write whatever is there.
    case none
    /// `If-None-Match: *`: only when no object exists under the key.
    case ifAbsent
    /// `If-Match: etag`: only when the object still has this ETag.
    case ifMatch(String)
}

/// The outcome of a PUT.
public enum S3WriteResult: Sendable, Hashable {
    /// Written; the new ETag and version id.
    case written(etag: String, versionID: String?)
    /// The condition did not hold; nothing was written.
    case preconditionFailed
}

/// An S3 client on AsyncHTTPClient: objects, listings, versions, conditional writes, SigV4-signed,
/// with bounded jittered retries. Errors are ``AWSError`` with the S3 error code and request id.
public struct S3Client: Sendable {
    /// The configuration.
    public let configuration: S3Configuration
    let transport: AWSTransport

    /// Creates a client. `logger` gets the client's own messages (retries); AsyncHTTPClient logs
    /// through `httpLogger` (default: `logger`), filtered so that it never logs a body or a
    /// header and never below `debug`, whatever the level asked for.
    public init(_ configuration: S3Configuration, logger: Logger, httpLogger: Logger? = nil) {
        self.configuration = configuration
        self.transport = AWSTransport(
            endpoint: configuration.endpoint,
            signer: SigV4Signer(
                credentials: configuration.credentials, region: configuration.region, service: "s3", options: .s3),
            retry: configuration.retry, logger: logger, httpLogger: httpLogger)
    }

    /// `bucket/key` as the error messages show it.
    func name(_ key: String) -> String { "s3://\(configuration.bucket)/\(key)" }

    func request(_ method: HTTPMethod, key: String?, operation: String) -> AWSRequest {
        let bucket = configuration.bucket
        switch configuration.addressing {
        case .path:
            let path = key.map { "/\(bucket)/\($0)" } ?? "/\(bucket)"
            return AWSRequest(method: method, host: configuration.endpoint.host, path: path, operation: operation)
        case .virtualHosted:
            return AWSRequest(
                method: method, host: "\(bucket).\(configuration.endpoint.host)", path: "/\(key ?? "")",
                operation: operation)
        }
    }

    private func send(_ request: AWSRequest) async throws(AWSError) -> AWSResponse {
        try await transport.send(request) { response in S3Client.errorCode(response) }
    }

    // MARK: Objects

    /// Writes an object, subject to `condition`.
    ///
    /// When a retried conditional PUT answers 412, an earlier attempt may have landed: the object
    /// is read back and, if it holds exactly these bytes, the write counts as done.
    public func putObject(_ key: String, _ bytes: [UInt8], condition: S3WriteCondition = .none) async throws(AWSError) -> S3WriteResult {
        var request = request(.PUT, key: key, operation: "S3 PutObject \(name(key))")
        request.body = ByteBuffer(bytes: bytes)
        request.headers.append(("content-type", "application/octet-stream"))
        switch condition {
        case .none: break
        case .ifAbsent: request.headers.append(("if-none-match", "*"))
        case .ifMatch(let etag): request.headers.append(("if-match", etag))
        }
        let response = try await send(request)
        if (200...299).contains(response.status) {
            return .written(
                etag: response.headers.first(name: "etag") ?? "", versionID: response.headers.first(name: "x-amz-version-id"))
        }
        // The condition did not hold: 412, a conflicting concurrent conditional write (409), or
        // If-Match on an object that is gone (404 NoSuchKey).
        let conditionFailed =
            response.status == 412
            || (response.status == 409 && S3Client.errorCode(response) == "ConditionalRequestConflict")
            || (response.status == 404 && { if case .ifMatch = condition { true } else { false } }())
        guard conditionFailed else { throw S3Client.error(response, operation: request.operation) }
        if response.attempts > 1, let current = try await getObject(key), current.bytes == bytes {
            return .written(etag: current.etag, versionID: current.versionID)
        }
        return .preconditionFailed
    }

    /// Reads an object, or nil when there is none (or its latest version is a delete marker).
    public func getObject(_ key: String) async throws(AWSError) -> S3Object? {
        let request = request(.GET, key: key, operation: "S3 GetObject \(name(key))")
        let response = try await send(request)
        switch response.status {
        case 200:
            return S3Object(
                key: key, bytes: Array(buffer: response.body), etag: response.headers.first(name: "etag") ?? "",
                versionID: response.headers.first(name: "x-amz-version-id"))
        case 404:
            if S3Client.errorCode(response) == "NoSuchBucket" { throw S3Client.error(response, operation: request.operation) }
            return nil
        default:
            throw S3Client.error(response, operation: request.operation)
        }
    }

    /// The ETag and size of an object, or nil when there is none.
    public func headObject(_ key: String) async throws(AWSError) -> (etag: String, size: Int)? {
        let request = request(.HEAD, key: key, operation: "S3 HeadObject \(name(key))")
        let response = try await send(request)
        switch response.status {
        case 200:
            return (response.headers.first(name: "etag") ?? "", Int(response.headers.first(name: "content-length") ?? "") ?? 0)
        case 404:
            return nil
        default:
            throw S3Client.error(response, operation: request.operation)
        }
    }

    /// Deletes an object (a delete marker in a versioned bucket) or, with `versionID`, that version
    /// for good. Deleting what is not there succeeds.
    public func deleteObject(_ key: String, versionID: String? = nil) async throws(AWSError) {
        var request = request(.DELETE, key: key, operation: "S3 DeleteObject \(name(key))\(versionID.map { " version \($0)" } ?? "")")
        if let versionID { request.query = [("versionId", versionID)] }
        let response = try await send(request)
        guard (200...299).contains(response.status) || response.status == 404 else {
            throw S3Client.error(response, operation: request.operation)
        }
    }

    // MARK: Listings

    /// One page of ListObjectsV2.
    public struct ListPage: Sendable {
        /// Keys on this page, in order.
        public var keys: [String]
        /// Common prefixes (with `delimiter`).
        public var commonPrefixes: [String]
        /// The token for the next page, when truncated.
        public var continuationToken: String?
    }

    /// One page of ListObjectsV2 under `prefix`.
    public func listObjectsV2(
        prefix: String, delimiter: String? = nil, continuationToken: String? = nil, maxKeys: Int = 1000
    ) async throws(AWSError) -> ListPage {
        var request = request(.GET, key: nil, operation: "S3 ListObjectsV2 \(name(prefix))")
        request.query = [("list-type", "2"), ("prefix", prefix), ("max-keys", String(maxKeys))]
        if let delimiter { request.query.append(("delimiter", delimiter)) }
        if let continuationToken { request.query.append(("continuation-token", continuationToken)) }
        let root = try document(try await send(request), operation: request.operation, expecting: "ListBucketResult")
        let truncated = root.value("IsTruncated") == "true"
        let token = root.value("NextContinuationToken")
        if truncated && (token ?? "").isEmpty {
            throw AWSError(kind: .invalidResponse, operation: request.operation, message: "a truncated listing without NextContinuationToken")
        }
        return ListPage(
            keys: root.children("Contents").compactMap { $0.value("Key") },
            commonPrefixes: root.children("CommonPrefixes").compactMap { $0.value("Prefix") },
            continuationToken: truncated ? token : nil)
    }

    /// Every key (and common prefix) under `prefix`, following pagination.
    public func listAll(prefix: String, delimiter: String? = nil, pageSize: Int = 1000) async throws(AWSError) -> (keys: [String], commonPrefixes: [String]) {
        var keys: [String] = []
        var prefixes: [String] = []
        var token: String?
        repeat {
            let page = try await listObjectsV2(prefix: prefix, delimiter: delimiter, continuationToken: token, maxKeys: pageSize)
            keys += page.keys
            prefixes += page.commonPrefixes
            token = page.continuationToken
        } while token != nil
        return (keys, prefixes)
    }

    /// Every version and delete marker of every key under `prefix` (ListObjectVersions, paginated).
    public func listObjectVersions(prefix: String, pageSize: Int = 1000) async throws(AWSError) -> [S3ObjectVersion] {
        var result: [S3ObjectVersion] = []
        var keyMarker: String?
        var versionMarker: String?
        while true {
            var request = request(.GET, key: nil, operation: "S3 ListObjectVersions \(name(prefix))")
            request.query = [("versions", ""), ("prefix", prefix), ("max-keys", String(pageSize))]
            if let keyMarker { request.query.append(("key-marker", keyMarker)) }
            if let versionMarker { request.query.append(("version-id-marker", versionMarker)) }
            let root = try document(try await send(request), operation: request.operation, expecting: "ListVersionsResult")
            for element in root.children where element.name == "Version" || element.name == "DeleteMarker" {
                guard let key = element.value("Key"), let version = element.value("VersionId") else { continue }
                result.append(S3ObjectVersion(key: key, versionID: version, isDeleteMarker: element.name == "DeleteMarker"))
            }
            guard root.value("IsTruncated") == "true" else { return result }
            keyMarker = root.value("NextKeyMarker")
            versionMarker = root.value("NextVersionIdMarker")
            guard keyMarker != nil else {
                throw AWSError(kind: .invalidResponse, operation: request.operation, message: "a truncated listing without NextKeyMarker")
            }
        }
    }

    /// Deletes every version and delete marker of `key` (exactly that key); returns how many.
    @discardableResult
    public func deleteAllVersions(of key: String) async throws(AWSError) -> Int {
        let versions = try await listObjectVersions(prefix: key).filter { $0.key == key }
        for version in versions { try await deleteObject(key, versionID: version.versionID) }
        // An unversioned bucket lists nothing; delete the object itself too.
        if versions.isEmpty { try await deleteObject(key) }
        return versions.count
    }

    // MARK: Bucket

    /// Creates the bucket (tests and set-up scripts); an existing bucket we own is not an error.
    public func createBucket() async throws(AWSError) {
        var request = request(.PUT, key: nil, operation: "S3 CreateBucket \(configuration.bucket)")
        if configuration.region != "us-east-1" {
            request.body = ByteBuffer(string:
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>\(configuration.region)</LocationConstraint></CreateBucketConfiguration>")
        }
        let response = try await send(request)
        guard (200...299).contains(response.status) || S3Client.errorCode(response) == "BucketAlreadyOwnedByYou" else {
            throw S3Client.error(response, operation: request.operation)
        }
    }

    /// Turns versioning on.
    public func enableVersioning() async throws(AWSError) {
        var request = request(.PUT, key: nil, operation: "S3 PutBucketVersioning \(configuration.bucket)")
        request.query = [("versioning", "")]
        request.body = ByteBuffer(string:
            "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>Enabled</Status></VersioningConfiguration>")
        let response = try await send(request)
        guard (200...299).contains(response.status) else { throw S3Client.error(response, operation: request.operation) }
    }

    /// The bucket's versioning status: `Enabled`, `Suspended`, or nil when never enabled.
    public func versioningStatus() async throws(AWSError) -> String? {
        var request = request(.GET, key: nil, operation: "S3 GetBucketVersioning \(configuration.bucket)")
        request.query = [("versioning", "")]
        // AWS answers <VersioningConfiguration>; some servers (moto) wrap it in another element.
        let root = try document(try await send(request), operation: request.operation, expecting: nil)
        return root.value("Status") ?? root.children.lazy.compactMap { $0.value("Status") }.first
    }

    // MARK: Answers

    private func document(_ response: AWSResponse, operation: String, expecting: String?) throws(AWSError) -> XMLElement {
        guard response.status == 200 else { throw S3Client.error(response, operation: operation) }
        let root: XMLElement
        do {
            root = try XMLElement.parse(Array(buffer: response.body))
        } catch {
            throw AWSError(kind: .invalidResponse, operation: operation, message: "malformed XML: \(error)")
        }
        guard expecting == nil || root.name == expecting else {
            throw AWSError(kind: .invalidResponse, operation: operation, message: "expected <\(expecting ?? "")>, got <\(root.name)>")
        }
        return root
    }

    /// The S3 error code of an error answer: from its XML body, or from the status for bodiless ones.
    static func errorCode(_ response: AWSResponse) -> String? {
        if response.body.readableBytes > 0, let error = XMLElement.errorElement(Array(buffer: response.body)),
            let code = error.value("Code")
        {
            return code
        }
        switch response.status {
        case 403: return "AccessDenied"
        case 404: return "NotFound"
        case 409: return "Conflict"
        case 412: return "PreconditionFailed"
        case 503: return "ServiceUnavailable"
        default: return nil
        }
    }

    static func error(_ response: AWSResponse, operation: String) -> AWSError {
        var message = "HTTP \(response.status)"
        var requestID = response.headers.first(name: "x-amz-request-id")
        if response.body.readableBytes > 0, let error = XMLElement.errorElement(Array(buffer: response.body)) {
            message = error.value("Message") ?? message
            requestID = error.value("RequestId") ?? requestID
        }
        return AWSError(
            kind: .service, operation: operation, status: response.status, code: errorCode(response),
            message: message, requestID: requestID, attempts: response.attempts)
    }
}
