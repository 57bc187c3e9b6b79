import AsyncHTTPClient
import CoreMetrics
import Logging
import NIOCore
import NIOHTTP1
internal import CSodium
import SecureCrypto

/// How often and how patiently a request is retried.
///
/// Retried: connection failures and timeouts, HTTP 500/502/503/504, 429 and the services'
/// throttling codes. Waits are "full jitter" exponential backoff: a random time between zero and
/// `min(maximumDelay, baseDelay × 2^attempt)`, so many clients do not retry in step.
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts in all, the first one included (1 = no retries).
    public var maxAttempts: Int
    /// The backoff unit.
    public var baseDelay: Duration
    /// The longest single wait.
    public var maximumDelay: Duration

    /// Creates a policy.
    public init(maxAttempts: Int = 4, baseDelay: Duration = .milliseconds(100), maximumDelay: Duration = .seconds(2)) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maximumDelay = maximumDelay
    }

    /// The wait before attempt `attempt + 1` (attempt counts from 1).
    func delay(after attempt: Int) -> Duration {
        let ceiling = min(maximumDelay, baseDelay * (1 << min(attempt - 1, 20)))
        let nanoseconds = ceiling.components.seconds * 1_000_000_000 + ceiling.components.attoseconds / 1_000_000_000
        return .nanoseconds(Int64.random(in: 0...max(0, nanoseconds)))
    }
}

/// One HTTP request to an AWS-compatible service, before signing.
struct AWSRequest: Sendable {
    var method: HTTPMethod
    /// The host the request goes to (may differ from the endpoint's for virtual-hosted S3).
    var host: String
    /// The decoded path.
    var path: String
    var query: [(String, String)] = []
    var headers: [(String, String)] = []
    /// Sent as is on every attempt (the same storage, never copied per attempt), so that
    /// ``wipeBody()`` afterwards clears the bytes that went out.
    var body = ByteBuffer()
    /// For error messages: `S3 PutObject key`, `KMS Decrypt`.
    var operation: String

    /// Zeroes the body's storage in place. Returns false when the storage was still shared with
    /// someone else (the HTTP client), so that only a private copy could be zeroed.
    @discardableResult
    mutating func wipeBody() -> Bool {
        body.wipeInPlace()
    }
}

extension ByteBuffer {
    /// Zeroes the readable bytes through the mutable-buffer API. When the storage is shared, that
    /// API copies it first; then only the copy is zeroed and this returns false.
    @discardableResult
    mutating func wipeInPlace() -> Bool {
        guard readableBytes > 0 else { return true }
        let shared = withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        return withUnsafeMutableReadableBytes { raw in
            sodium_memzero(raw.baseAddress, raw.count)
            return UInt(bitPattern: raw.baseAddress) == shared
        }
    }
}

/// The answer to a request. For bodies that may hold secrets (KMS), the caller wipes `body`.
struct AWSResponse: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: ByteBuffer
    /// How many attempts it took (above 1, an earlier attempt may have reached the server).
    var attempts: Int
}

/// Sends signed requests over one shared AsyncHTTPClient with bounded, jittered retries.
struct AWSTransport: Sendable {
    /// One connection pool per process: a client must be shut down before it is freed, and one
    /// that lives as long as the process never is.
    static let sharedClient: HTTPClient = {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(5), read: .seconds(30)),
            connectionPool: .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 32))
        configuration.httpVersion = .http1Only
        // Connection failures come back at once and go through RetryPolicy, the one place that
        // bounds attempts and spaces them with jitter (the pool would otherwise retry on its own
        // until the connect timeout, for every attempt).
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    let endpoint: AWSEndpoint
    let signer: SigV4Signer
    let retry: RetryPolicy
    let logger: Logger
    /// What AsyncHTTPClient may log: never bodies or headers (see ``HTTPLogHandler``).
    let httpLogger: Logger
    /// Largest response body accepted.
    var maximumBody = 16 << 20

    /// Whether an error code or status means "try again later".
    static func isRetryable(status: Int, code: String?) -> Bool {
        if [500, 502, 503, 504, 429].contains(status) || AWSError.isThrottling(code) { return true }
        let transient: Set<String> = [
            "RequestTimeout", "InternalError", "ServiceUnavailable", "KMSInternalException", "DependencyTimeoutException",
        ]
        return transient.contains(code ?? "")
    }

    /// Sends `request`, retrying what the policy allows. Returns the final answer, whatever its
    /// status; `classify` reads an error answer's code so throttling codes are retried. Throws
    /// ``AWSError`` (`.unreachable`) when no answer came after the last attempt.
    func send(_ request: AWSRequest, classify: (AWSResponse) -> String?) async throws(AWSError) -> AWSResponse {
        let payloadHash = Hex.encode(request.body.withUnsafeReadableBytes { SHA256.hash($0) })
        var attempt = 0
        while true {
            attempt += 1
            let outcome: Result<AWSResponse, any Error>
            let reason: String
            do {
                outcome = .success(try await sendOnce(request, payloadHash: payloadHash, attempt: attempt))
            } catch let error as AWSError {
                throw error  // signing failed: nothing to retry
            } catch {
                outcome = .failure(error)
            }
            switch outcome {
            case .success(let response):
                let code = response.status >= 400 ? classify(response) : nil
                guard response.status >= 400, AWSTransport.isRetryable(status: response.status, code: code),
                    attempt < retry.maxAttempts
                else { return response }
                reason = AWSError.isThrottling(code) || response.status == 429 ? "throttled" : "server-error"
                logger.debug(
                    "retrying after a transient error",
                    metadata: ["aws.operation": "\(request.operation)", "http.status": "\(response.status)", "aws.code": "\(code ?? "")", "attempt": "\(attempt)"])
            case .failure(let error):
                if error is CancellationError || Task.isCancelled {
                    throw AWSError(kind: .unreachable, operation: request.operation, message: "cancelled", attempts: attempt)
                }
                guard attempt < retry.maxAttempts else {
                    throw AWSError(
                        kind: .unreachable, operation: request.operation,
                        message: "\(endpoint) did not answer: \(AWSTransport.describe(error))", attempts: attempt)
                }
                reason = "connection"
                logger.debug(
                    "retrying after a connection error",
                    metadata: ["aws.operation": "\(request.operation)", "error": "\(AWSTransport.describe(error))", "attempt": "\(attempt)"])
            }
            let delay = retry.delay(after: attempt)
            recordRetry(request, reason: reason, delay: delay)
            do {
                try await Task.sleep(for: delay)
            } catch {
                throw AWSError(kind: .unreachable, operation: request.operation, message: "cancelled", attempts: attempt)
            }
        }
    }

    /// Counts a retry (`strongroom_aws_retries_total` by service, action and reason) and the pause
    /// before it (`strongroom_aws_retry_delay_seconds`; docs/metrics.md). Retries are rare: the
    /// handles are made per retry, so a backend bootstrapped later is always used.
    private func recordRetry(_ request: AWSRequest, reason: String, delay: Duration) {
        // `S3 PutObject key`, `KMS Decrypt`: the action is the second word.
        let words = request.operation.split(separator: " ", maxSplits: 2)
        let action = words.count > 1 ? String(words[1]) : request.operation
        let dimensions = [("service", signer.service), ("action", action), ("reason", reason)]
        Counter(label: "strongroom_aws_retries_total", dimensions: dimensions).increment()
        let (seconds, attoseconds) = delay.components
        Timer(label: "strongroom_aws_retry_delay_seconds", dimensions: [("service", signer.service)])
            .recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    private func sendOnce(_ request: AWSRequest, payloadHash: String, attempt: Int) async throws -> AWSResponse {
        var headers = request.headers
        headers.append(("host", endpoint.hostHeader(request.host)))
        let toSign = SigV4Signer.Request(
            method: request.method.rawValue, path: request.path, query: request.query, headers: headers,
            payloadHash: payloadHash)
        let signing: [(String, String)]
        do {
            signing = try signer.sign(toSign, timestamp: AWSTimestamp.now()).headers
        } catch {
            throw AWSError(kind: .configuration, operation: request.operation, message: "could not sign the request (\(type(of: error)))")
        }
        var url = "\(endpoint.scheme)://\(endpoint.hostHeader(request.host))\(SigV4Signer.encode(request.path, keepSlash: true))"
        if !request.query.isEmpty { url += "?" + SigV4Signer.canonicalQuery(request.query) }
        var http = HTTPClientRequest(url: url)
        http.method = request.method
        for (name, value) in headers + signing { http.headers.replaceOrAdd(name: name, value: value) }
        if request.body.readableBytes > 0 || request.method == .PUT || request.method == .POST {
            http.body = .bytes(request.body)  // shares the request's storage: no copy per attempt
        }
        let response = try await AWSTransport.sharedClient.execute(http, timeout: .seconds(60), logger: httpLogger)
        let body = try await response.body.collect(upTo: maximumBody)
        return AWSResponse(status: Int(response.status.code), headers: response.headers, body: body, attempts: attempt)
    }

    init(endpoint: AWSEndpoint, signer: SigV4Signer, retry: RetryPolicy, logger: Logger, httpLogger: Logger? = nil) {
        self.endpoint = endpoint
        self.signer = signer
        self.retry = retry
        self.logger = logger
        self.httpLogger = HTTPLogHandler.logger(httpLogger ?? logger)
    }

    static func describe(_ error: any Error) -> String {
        String("\(error)".map { $0 == "\n" ? " " : $0 })
    }
}
