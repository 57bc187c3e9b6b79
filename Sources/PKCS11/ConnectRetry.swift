#if canImport(Glibc)
import Glibc
#endif

/// How connecting to a token retries failures that usually pass: a bounded number of attempts with
/// exponential backoff and jitter, then a clear ``PKCS11SetupError/stillFailing(what:attempts:milliseconds:last:)``.
///
/// SoftHSM 2.6 rewrites its token file on every login, so several processes connecting at once see
/// "no initialised tokens" or `CKR_GENERAL_ERROR` from `C_GetTokenInfo`/`C_Login` for a few
/// milliseconds. Retried: a token not found, and the ``PKCS11Error/meansTransientConnectFailure``
/// answers, among them `CKR_USER_PIN_NOT_INITIALIZED` (a token read while it was being rewritten looks
/// as if it had no user PIN; no PIN was checked, so no PIN attempt is used up). Never retried: a refused
/// PIN (`CKR_PIN_INCORRECT`, `CKR_PIN_INVALID`, `CKR_PIN_LEN_RANGE`, `CKR_PIN_EXPIRED`, `CKR_PIN_LOCKED`)
/// or any other error.
///
/// Waiting alone does not help SoftHSM: a process that read the token file while another rewrote it
/// keeps seeing "no initialised tokens" until `C_Finalize`/`C_Initialize` make it scan the token
/// directory again. So the callers re-initialise the module before each further attempt.
public struct ConnectRetry: Sendable, Hashable {
    /// Attempts in all (1: no retry).
    public var attempts: Int
    /// The pause after the first failure; it doubles after each further one.
    public var baseDelay: Duration
    /// The longest pause.
    public var maxDelay: Duration

    public init(attempts: Int, baseDelay: Duration, maxDelay: Duration) {
        precondition(attempts >= 1, "at least one attempt")
        self.attempts = attempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// 10 attempts, 20 ms doubling to at most 400 ms, with jitter: gives up after 1.1 to 2.2 s.
    public static let standard = ConnectRetry(attempts: 10, baseDelay: .milliseconds(20), maxDelay: .milliseconds(400))

    /// One attempt only.
    public static let never = ConnectRetry(attempts: 1, baseDelay: .zero, maxDelay: .zero)

    /// Whether `error` is worth another attempt.
    public static func isTransient(_ error: any Error) -> Bool {
        switch error {
        case let error as PKCS11Error: error.meansTransientConnectFailure
        case PKCS11SetupError.tokenNotFound: true
        default: false
        }
    }

    /// The pause after failed attempt `attempt` (1-based): half the capped exponential delay, plus a
    /// random part of up to the other half ("equal jitter"), so processes that failed together do not
    /// retry together.
    package func pause(after attempt: Int) -> Duration {
        var delay = baseDelay
        for _ in 1..<max(attempt, 1) where delay < maxDelay { delay *= 2 }
        delay = min(delay, maxDelay)
        let nanoseconds = delay.components.seconds * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000
        guard nanoseconds > 1 else { return delay }
        return .nanoseconds(nanoseconds / 2 + Int64.random(in: 0...(nanoseconds / 2)))
    }

    /// Runs `body` until it succeeds, fails with a non-transient error (thrown as is), or has failed
    /// transiently ``attempts`` times (then throws `stillFailing` naming `what` and the last error).
    /// Pauses by blocking the calling thread: connecting is synchronous, and rare.
    public func run<R>(
        what: String, onRetry: (_ attempt: Int, _ error: any Error) throws -> Void = { _, _ in }, _ body: () throws -> R
    ) throws -> R {
        let clock = ContinuousClock()
        let start = clock.now
        var attempt = 1
        while true {
            do {
                return try body()
            } catch where ConnectRetry.isTransient(error) {
                guard attempt < attempts else {
                    guard attempts > 1 else { throw error }
                    let elapsed = clock.now - start
                    let milliseconds = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
                    throw PKCS11SetupError.stillFailing(what: what, attempts: attempt, milliseconds: milliseconds, last: "\(error)")
                }
                try onRetry(attempt, error)
                let pause = pause(after: attempt)
                var request = timespec(
                    tv_sec: Int(pause.components.seconds), tv_nsec: Int(pause.components.attoseconds / 1_000_000_000))
                var remaining = timespec()
                while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
                attempt += 1
            }
        }
    }
}
