import Foundation
import Logging
import NIOCore
import NIOHTTP1
import SecureCrypto
import Testing
@testable import AWSClient

/// The parts of the clients that need no server: endpoints, addressing, retries, answer parsing.
@Suite struct ClientUnitTests {
    static func credentials() throws -> AWSCredentials {
        AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: try Array("secret".utf8).withUnsafeBytes { try SecretBytes(copying: $0) })
    }

    @Test func httpsAlwaysPlainHTTPOnlyToLoopbackUnlessAllowed() throws {
        #expect(try AWSEndpoint("https://s3.eu-west-1.amazonaws.com").port == 443)
        #expect(try AWSEndpoint("http://127.0.0.1:9000/").port == 9000)
        #expect(try AWSEndpoint("http://localhost:4566").isLoopback)
        #expect(try AWSEndpoint("http://[::1]:9000").host == "::1")
        let refused = #expect(throws: AWSError.self) { try AWSEndpoint("http://minio.internal:9000") }
        #expect(refused?.message.contains("allowInsecureHTTP") == true)
        #expect(try AWSEndpoint("http://minio.internal:9000", allowInsecureHTTP: true).scheme == "http")
        #expect(throws: AWSError.self) { try AWSEndpoint("ftp://x") }
        #expect(throws: AWSError.self) { try AWSEndpoint("https://user@host") }
        #expect(throws: AWSError.self) { try AWSEndpoint("https://host/path") }
        #expect(throws: AWSError.self) { try AWSEndpoint("https://host:99999") }
    }

    @Test func pathAndVirtualHostedAddressing() throws {
        let endpoint = try AWSEndpoint("https://s3.eu-west-1.amazonaws.com")
        let path = S3Client(
            try S3Configuration(endpoint: endpoint, region: "eu-west-1", bucket: "vault-bucket", addressing: .path, credentials: try Self.credentials()),
            logger: Logger(label: "test"))
        let pathRequest = path.request(.GET, key: "shares/a/1.srb", operation: "t")
        #expect(pathRequest.host == "s3.eu-west-1.amazonaws.com")
        #expect(pathRequest.path == "/vault-bucket/shares/a/1.srb")
        let virtual = S3Client(
            try S3Configuration(endpoint: endpoint, region: "eu-west-1", bucket: "vault-bucket", addressing: .virtualHosted, credentials: try Self.credentials()),
            logger: Logger(label: "test"))
        let virtualRequest = virtual.request(.GET, key: "shares/a/1.srb", operation: "t")
        #expect(virtualRequest.host == "vault-bucket.s3.eu-west-1.amazonaws.com")
        #expect(virtualRequest.path == "/shares/a/1.srb")
        #expect(virtual.request(.GET, key: nil, operation: "t").path == "/")
        // Dotted bucket names break TLS wildcard certificates with virtual hosts; bad names are refused.
        #expect(throws: AWSError.self) {
            try S3Configuration(endpoint: endpoint, region: "eu-west-1", bucket: "a.b.c", addressing: .virtualHosted, credentials: try Self.credentials())
        }
        #expect(throws: AWSError.self) {
            try S3Configuration(endpoint: endpoint, region: "eu-west-1", bucket: "Bad_Name", credentials: try Self.credentials())
        }
    }

    @Test func retriesAreBoundedJitteredAndOnlyForTransientErrors() {
        let policy = RetryPolicy(maxAttempts: 4, baseDelay: .milliseconds(100), maximumDelay: .seconds(2))
        for attempt in 1...12 {
            let ceiling = min(Duration.seconds(2), .milliseconds(100) * (1 << (attempt - 1)))
            let delays = (0..<50).map { _ in policy.delay(after: attempt) }
            #expect(delays.allSatisfy { $0 >= .zero && $0 <= ceiling })
            if attempt >= 3 { #expect(Set(delays).count > 1, "no jitter at attempt \(attempt)") }
        }
        for (status, code) in [(500, nil), (503, "SlowDown"), (429, nil), (400, "ThrottlingException"), (400, "RequestTimeout")] as [(Int, String?)] {
            #expect(AWSTransport.isRetryable(status: status, code: code), "\(status) \(code ?? "")")
        }
        for (status, code) in [(403, "AccessDenied"), (404, "NoSuchKey"), (412, "PreconditionFailed"), (400, "InvalidCiphertextException")] {
            #expect(!AWSTransport.isRetryable(status: status, code: code), "\(status) \(code)")
        }
    }

    /// The data key is decoded from the KMS answer into locked memory and its base64 text is
    /// overwritten in the answer buffer itself.
    @Test func kmsPlaintextIsExtractedAndWipedFromTheAnswer() throws {
        let json = #"{"CiphertextBlob":"AQID","KeyId":"arn:k","Plaintext":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}"#
        var buffer = ByteBuffer(string: json)
        let secret = try #require(try KMSClient.extractPlaintext(&buffer))
        #expect(secret.count == 32)
        secret.withUnsafeBytes { bytes in #expect(Array(bytes) == Array(0..<32)) }
        let after = String(buffer: buffer)
        #expect(!after.contains("AAECAwQF"))
        #expect(after.contains(#""Plaintext":"AAAAAAAA"#))
        #expect(after.contains(#""CiphertextBlob":"AQID""#))
        let wipedInPlace = buffer.wipeInPlace()
        #expect(wipedInPlace)
        #expect(buffer.readableBytesView.allSatisfy { $0 == 0 })
    }

    /// Zeroing goes through the mutable-buffer API: storage shared with another owner is copied
    /// first, the copy is zeroed, and the caller is told; the other owner's bytes stay.
    @Test func wipingASharedBufferSaysOnlyACopyWasZeroed() {
        var buffer = ByteBuffer(string: "not shared")
        let unshared = buffer.wipeInPlace()
        #expect(unshared)
        #expect(buffer.readableBytesView.allSatisfy { $0 == 0 })
        var shared = ByteBuffer(string: "shared with another")
        let other = shared
        let inPlace = shared.wipeInPlace()
        #expect(!inPlace)
        #expect(shared.readableBytesView.allSatisfy { $0 == 0 })
        #expect(String(buffer: other) == "shared with another")
    }

    /// The handler AsyncHTTPClient logs through: never below debug (AsyncHTTPClient logs HTTP parts,
    /// bodies and headers, at trace), and only metadata that cannot hold a body or a header.
    @Test func httpLoggerDropsTraceAndBodyCarryingMetadata() {
        let sink = LogSink()
        var logger = Logger(label: "test") { _ in CapturingLogHandler(sink: sink) }
        logger.logLevel = .trace
        var http = HTTPLogHandler.logger(logger)
        #expect(http.logLevel == .debug)
        http.logLevel = .trace
        #expect(http.logLevel == .debug)
        http[metadataKey: "ahc-request-id"] = "7"
        http[metadataKey: "authorization"] = "AWS4-HMAC-SHA256 Credential=AKID"
        http.trace("Channel read", metadata: ["ahc-http-part": "body([7b 22 50 6c])"])
        http.debug("request", metadata: ["ahc-http-part": "head(authorization: x)", "ahc-connection-id": "3"])
        let lines = sink.lines
        #expect(lines.count == 1)
        #expect(lines.first?.contains("ahc-request-id=7") == true)
        #expect(lines.first?.contains("ahc-connection-id=3") == true)
        #expect(lines.allSatisfy { !$0.contains("ahc-http-part") && !$0.contains("AKID") && !$0.contains("7b 22") })
    }

    @Test func s3ErrorDocumentsAndListingsParse() throws {
        let error = try XMLElement.parse(Array(#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The key &lt;x&gt; &amp; more</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>"#.utf8))
        #expect(error.name == "Error" && error.value("Code") == "NoSuchKey")
        #expect(error.value("Message") == "The key <x> & more")
        #expect(error.value("RequestId") == "4442587FB7D0A2F9")
        let listing = try XMLElement.parse(Array(#"<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>true</IsTruncated><Contents><Key>a/1.srb</Key></Contents><Contents><Key>a/2.srb</Key></Contents><CommonPrefixes><Prefix>a/b/</Prefix></CommonPrefixes><NextContinuationToken>t&#x2F;1</NextContinuationToken></ListBucketResult>"#.utf8))
        #expect(listing.children("Contents").compactMap { $0.value("Key") } == ["a/1.srb", "a/2.srb"])
        #expect(listing.value("NextContinuationToken") == "t/1")
        #expect(throws: XMLElement.Malformed.self) { try XMLElement.parse(Array("<!DOCTYPE x [<!ENTITY a 'b'>]><x/>".utf8)) }
        #expect(throws: XMLElement.Malformed.self) { try XMLElement.parse(Array("<a><b></a>".utf8)) }
    }
}

/// Collects formatted log lines (a real handler writing to memory, for assertions).
final class LogSink: @unchecked Sendable {
    // @unchecked: every access to `stored` holds `lock`.
    private let lock = NSLock()
    private var stored: [String] = []
    var lines: [String] { lock.withLock { stored } }
    func append(_ line: String) { lock.withLock { stored.append(line) } }
}

struct CapturingLogHandler: LogHandler {
    let sink: LogSink
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    var metadataProvider: Logger.MetadataProvider?
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let rendered = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        sink.append("\(event.level) \(event.message) \(rendered)")
    }
}
