internal import CPKCS11
import CoreMetrics
import Glibc
import Logging
import SecureCrypto
import Synchronization

/// A logged-in connection to one token: one persistent session that holds the login, plus up to
/// ``maxWorkerSessions`` worker sessions that tasks borrow for one operation each.
///
/// When a call reports that the sessions are gone (`CKR_SESSION_HANDLE_INVALID`, `CKR_SESSION_CLOSED`,
/// `CKR_DEVICE_REMOVED`, `CKR_TOKEN_NOT_PRESENT`, `CKR_DEVICE_ERROR`, `CKR_CRYPTOKI_NOT_INITIALIZED`),
/// the connection drops its sessions, re-initialises the module, finds the token again, logs in again,
/// forgets its cached key handles (keys are found again by label) and runs the operation once more.
/// A stale key handle alone (the key was destroyed elsewhere) only clears the key cache before the
/// retry. A refused PIN is never retried.
///
/// SoftHSM keeps every destroyed session object until `C_Finalize`; after ``recycleAfter`` session
/// objects the connection re-initialises the module at a quiet moment so memory stays bounded.
public final class PKCS11Connection: Sendable {
    public let module: PKCS11Module
    public let selector: TokenSelector
    public let maxWorkerSessions: Int
    public let recycleAfter: Int
    /// How finding the token, opening the session and logging in retry transient failures.
    public let retry: ConnectRetry
    private let pin: SecretBytes?
    /// The logger given at creation (with `pkcs11.module` metadata).
    public let logger: Logger
    private let state = Mutex(State())
    // A leaf lock: nothing else is taken while it is held.
    private let keys = Mutex(KeyCache())
    private let latency = Mutex(Duration.zero)
    // A leaf lock: the token found at the last (re)connection, for ``token``.
    private let tokenSeen = Mutex<TokenInfo?>(nil)
    /// The threads every Cryptoki call of this connection runs on.
    public let pool: BlockingPool

    private struct State {
        var generation: UInt64 = 0  // the module generation the sessions below belong to; 0: none
        var token: TokenInfo?
        var persistent: CK_SESSION_HANDLE = 0
        var idle: [CK_SESSION_HANDLE] = []
        var leased = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
        var reconnects = 0
    }

    private struct KeyCache {
        var handles: [String: ObjectHandle] = [:]
        var sessionObjects = 0
    }

    private struct Lease {
        let handle: CK_SESSION_HANDLE
        let generation: UInt64
    }

    private struct Stale: Error {}

    /// Opens the connection: finds the token, opens the persistent session and logs in with `pin`.
    /// Without a PIN it logs in only if the token needs it (`CKF_LOGIN_REQUIRED`), and then throws
    /// ``PKCS11SetupError/pinRequired(token:)``. Transient failures are retried as `retry` says; a
    /// refused PIN (`CKR_PIN_INCORRECT`, …) is thrown at once and never retried.
    ///
    /// It blocks (Cryptoki calls, retry pauses): from async code use
    /// ``connect(module:token:pin:maxWorkerSessions:recycleAfter:retry:pool:logger:)``, which runs it on `pool`.
    public init(
        module: PKCS11Module, token selector: TokenSelector, pin: SecretBytes?, maxWorkerSessions: Int = 4,
        recycleAfter: Int = 20_000, retry: ConnectRetry = .standard, pool: BlockingPool = .shared(for: .cryptoki),
        logger: Logger = Logger(label: "strongroom.pkcs11")
    ) throws {
        self.pool = pool
        precondition(maxWorkerSessions >= 1, "a connection needs at least one worker session")
        self.module = module
        self.selector = selector
        self.pin = pin
        self.maxWorkerSessions = maxWorkerSessions
        self.recycleAfter = recycleAfter
        self.retry = retry
        var logger = logger
        logger[metadataKey: "pkcs11.module"] = "\(module.path)"
        self.logger = logger
        do {
            try state.withLock { try connect(&$0) }
        } catch let error as PKCS11Error where error.meansConnectionLost {
            // The module was finalised by someone else before we started: initialise it and try once more.
            try module.reinitialize(ifGeneration: module.generation)
            try state.withLock { try connect(&$0) }
        }
    }

    /// Opens a connection (see ``init(module:token:pin:maxWorkerSessions:recycleAfter:retry:pool:logger:)``)
    /// on a thread of `pool`, so the login and its retries never block a thread of the cooperative pool.
    public static func connect(
        module: PKCS11Module, token selector: TokenSelector, pin: SecretBytes?, maxWorkerSessions: Int = 4,
        recycleAfter: Int = 20_000, retry: ConnectRetry = .standard, pool: BlockingPool = .shared(for: .cryptoki),
        logger: Logger = Logger(label: "strongroom.pkcs11")
    ) async throws -> PKCS11Connection {
        try await pool.run {
            try PKCS11Connection(
                module: module, token: selector, pin: pin, maxWorkerSessions: maxWorkerSessions,
                recycleAfter: recycleAfter, retry: retry, pool: pool, logger: logger)
        }
    }

    deinit {
        state.withLock { state in
            module.shared {
                guard state.generation == module.generation else { return }
                for session in state.idle { _ = module.functions.pointee.C_CloseSession!(session) }
                if state.persistent != 0 { _ = module.functions.pointee.C_CloseSession!(state.persistent) }
            }
            state.idle = []
            state.persistent = 0
        }
    }

    /// The token this connection uses (as found at the last (re)connection).
    /// Read from a leaf lock of its own: the state lock is held through a reconnect's Cryptoki calls
    /// and pauses, and this is read from async code (error messages).
    public var token: TokenInfo? { tokenSeen.withLock { $0 } }

    /// Whether the connection logged in (false for a token without `CKF_LOGIN_REQUIRED` and no PIN):
    /// objects made without a login cannot be private (`CKA_PRIVATE`).
    public var isLoggedIn: Bool { pin != nil }

    /// How many times the connection has reconnected after losing its sessions.
    public var reconnectCount: Int { state.withLock { $0.reconnects } }

    // MARK: Running operations

    /// Runs `body` with a worker session, on a thread of ``pool`` (never on a thread of Swift's
    /// cooperative pool: every Cryptoki call blocks). If the sessions turn out to be gone, reconnects
    /// (see the type's documentation) and, when `idempotent`, runs `body` once more on a fresh session.
    /// While every worker session is lent out, the calling task waits without holding a thread.
    public func withSession<R: Sendable>(
        idempotent: Bool = true, _ body: @Sendable (PKCS11Session) throws -> R
    ) async throws -> R {
        var retried = false
        var waitStarted: ContinuousClock.Instant?
        while true {
            let (outcome, retriedNow) = try await pool.run { [retried] in
                try self.attempt(idempotent: idempotent, retried: retried, body)
            }
            retried = retriedNow
            switch outcome {
            case .done(let result):
                if let waitStarted { Self.recordSessionWait(since: waitStarted) }
                return result
            case .wait:
                if waitStarted == nil { waitStarted = .now }
                await waitForSession()
            }
        }
    }

    private enum Outcome<R: Sendable>: Sendable {
        case done(R)
        case wait
    }

    /// On a pool thread: takes a session (or answers `.wait` when all are lent out), runs `body`,
    /// gives the session back, and handles lost sessions and stale key handles as
    /// ``withSession(idempotent:_:)`` describes.
    private func attempt<R: Sendable>(
        idempotent: Bool, retried: Bool, _ body: (PKCS11Session) throws -> R
    ) throws -> (Outcome<R>, Bool) {
        var retried = retried
        while true {
            let lease: Lease
            do {
                guard let taken = try takeSession() else { return (.wait, retried) }
                lease = taken
            } catch let error as PKCS11Error where error.meansConnectionLost && !retried {
                retried = true
                try recover(after: error, seen: module.generation)
                continue
            }
            do {
                let latency = simulatedLatency
                let result = try module.shared {
                    guard module.generation == lease.generation else { throw Stale() }
                    if latency > .zero { Self.sleep(latency) }
                    return try body(PKCS11Session(functions: module.functions, handle: lease.handle, connection: self))
                }
                release(lease, reusable: true)
                recycleIfNeeded(lease.generation)
                return (.done(result), retried)
            } catch is Stale {
                release(lease, reusable: false)
                continue  // the module was re-initialised meanwhile: take a fresh session
            } catch let error as PKCS11Error where error.meansStaleKeyHandle && idempotent && !retried {
                // The session is fine; a cached key handle is not. Find the keys by label again.
                release(lease, reusable: true)
                retried = true
                keys.withLock { $0.handles = [:] }
                logger.debug("stale PKCS#11 key handle; finding keys by label again", metadata: ["pkcs11.error": "\(error)"])
            } catch let error as PKCS11Error where error.meansConnectionLost {
                release(lease, reusable: false)
                guard idempotent, !retried else { throw error }
                retried = true
                try recover(after: error, seen: lease.generation)
            } catch {
                release(lease, reusable: true)
                throw error
            }
        }
    }

    /// Test hook: how long each ``withSession(idempotent:_:)`` operation blocks its pool thread
    /// before its Cryptoki calls, as a slow or remote HSM would (zero, the default, adds nothing).
    /// The delay is a blocking sleep on the thread that makes the calls, never a `Task.sleep`.
    public var simulatedLatency: Duration {
        get { latency.withLock { $0 } }
        set { latency.withLock { $0 = newValue } }
    }

    private static func sleep(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0, errno == EINTR { request = remaining }
    }

    private func recover(after error: PKCS11Error, seen: UInt64) throws {
        logger.warning(
            "PKCS#11 sessions lost; re-initialising the module and logging in again",
            metadata: ["pkcs11.error": "\(error)"])
        try module.reinitialize(ifGeneration: seen)
        state.withLock { $0.reconnects += 1 }
        Counter(label: Self.reconnectsMetric).increment()
    }

    // Metrics (docs/metrics.md). Handles are made per event: reconnects, connect retries and pool
    // waits are rare, and a handle made before the host bootstraps a backend would stay a no-op.
    static let reconnectsMetric = "strongroom_hsm_reconnects_total"
    static let connectRetriesMetric = "strongroom_hsm_connect_retries_total"
    static let sessionWaitsMetric = "strongroom_hsm_session_waits_total"
    static let sessionWaitMetric = "strongroom_hsm_session_wait_seconds"

    /// Counts one operation that waited for a worker session (every session lent out) and how long
    /// it waited in all.
    private static func recordSessionWait(since started: ContinuousClock.Instant) {
        let (seconds, attoseconds) = (ContinuousClock.now - started).components
        Counter(label: sessionWaitsMetric).increment()
        Timer(label: sessionWaitMetric).recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    private func recycleIfNeeded(_ generation: UInt64) {
        guard recycleAfter > 0 else { return }
        let due = keys.withLock { cache in
            guard cache.sessionObjects >= recycleAfter else { return false }
            cache.sessionObjects = 0
            return true
        }
        guard due else { return }
        logger.debug("re-initialising the PKCS#11 module to release destroyed session objects")
        do {
            try module.reinitialize(ifGeneration: generation)
        } catch {
            logger.warning("planned PKCS#11 re-initialisation failed", metadata: ["pkcs11.error": "\(error)"])
        }
    }

    // MARK: Sessions

    private enum Step {
        case use(Lease)
        case open(UInt64)
        case wait
    }

    /// On a pool thread: a worker session, or nil when all ``maxWorkerSessions`` are lent out.
    /// Reconnects first (under the state lock, with its Cryptoki calls) when the module was
    /// re-initialised since the sessions were opened.
    private func takeSession() throws -> Lease? {
        while true {
            let step: Step = try state.withLock { state in
                if state.generation != module.generation { try connect(&state) }
                if let handle = state.idle.popLast() {
                    state.leased += 1
                    return .use(Lease(handle: handle, generation: state.generation))
                }
                if state.leased < maxWorkerSessions {
                    state.leased += 1
                    return .open(state.generation)
                }
                return .wait
            }
            switch step {
            case .use(let lease):
                return lease
            case .open(let generation):
                do {
                    // Lock order is state, then gate: read the slot before entering the gate.
                    let slot = state.withLock { CK_SLOT_ID($0.token?.slot ?? 0) }
                    let handle: CK_SESSION_HANDLE = try module.shared {
                        guard module.generation == generation else { throw Stale() }
                        return try openSession(slot: slot)
                    }
                    return Lease(handle: handle, generation: generation)
                } catch {
                    release(nil, generation: generation)
                    if error is Stale { continue }
                    throw error
                }
            case .wait:
                return nil
            }
        }
    }

    /// Suspends until a session may be free. The check takes the state lock, which a reconnect holds
    /// through its Cryptoki calls, so it runs on the pool too: no cooperative thread waits for it.
    private func waitForSession() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            pool.execute {
                let resumeNow = self.state.withLock { state in
                    if !state.idle.isEmpty || state.leased < self.maxWorkerSessions
                        || state.generation != self.module.generation
                    {
                        return true
                    }
                    state.waiters.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    private func release(_ lease: Lease, reusable: Bool) {
        release(reusable ? lease.handle : nil, generation: lease.generation)
    }

    private func release(_ handle: CK_SESSION_HANDLE?, generation: UInt64) {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            // Handles of an older generation are never closed or reused: the number may now belong
            // to someone else's new session.
            guard state.generation == generation else { return state.waiters.isEmpty ? nil : state.waiters.removeFirst() }
            state.leased -= 1
            if let handle { state.idle.append(handle) }
            return state.waiters.isEmpty ? nil : state.waiters.removeFirst()
        }
        waiter?.resume()
    }

    /// Under the state lock: forget everything, find the token, open the persistent session, log in;
    /// transient failures are retried as ``retry`` says (the pauses hold the state lock, which is
    /// what every other task would wait for anyway: there is no session to give them meanwhile).
    private func connect(_ state: inout State) throws {
        try retry.run(
            what: "find the token \(selector) and log in",
            onRetry: { attempt, error in
                logger.debug(
                    "PKCS#11 connect failed; re-initialising the module and retrying",
                    metadata: ["pkcs11.attempt": "\(attempt)", "pkcs11.error": "\(error)"])
                Counter(label: Self.connectRetriesMetric).increment()
                try module.reinitialize(ifGeneration: module.generation)
            }
        ) { try connectOnce(&state) }
        keys.withLock { $0.handles = [:] }
    }

    private func connectOnce(_ state: inout State) throws {
        try module.shared {
            let generation = module.generation
            let token = try module.unsafeToken(selector)
            if pin == nil, token.loginRequired { throw PKCS11SetupError.pinRequired(token: token.label) }
            let session = try openSession(slot: CK_SLOT_ID(token.slot))
            if let pin {
                module.countLogin()
                let rv: CK_RV = pin.withUnsafeBytes { bytes in
                    let pointer = UnsafeMutablePointer(mutating: bytes.baseAddress?.assumingMemoryBound(to: UInt8.self))
                    return module.functions.pointee.C_Login!(session, CK_USER_TYPE(CKU_USER), pointer, CK_ULONG(bytes.count))
                }
                guard rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN else {
                    _ = module.functions.pointee.C_CloseSession!(session)
                    throw PKCS11Error("C_Login", UInt(rv))
                }
            }
            let waiters = state.waiters
            state = State(
                generation: generation, token: token, persistent: session, reconnects: state.reconnects)
            tokenSeen.withLock { $0 = token }
            for waiter in waiters { waiter.resume() }
        }
    }

    private func openSession(slot: CK_SLOT_ID) throws -> CK_SESSION_HANDLE {
        var session: CK_SESSION_HANDLE = 0
        let rv = module.functions.pointee.C_OpenSession!(slot, CK_FLAGS(CKF_SERIAL_SESSION | CKF_RW_SESSION), nil, nil, &session)
        guard rv == CKR_OK else { throw PKCS11Error("C_OpenSession", UInt(rv)) }
        return session
    }

    // MARK: Keys

    func cachedKey(_ label: String, find: () throws -> [ObjectHandle]) throws -> ObjectHandle? {
        if let handle = keys.withLock({ $0.handles[label] }) { return handle }
        let found = try find()
        guard found.count <= 1 else { throw PKCS11SetupError.duplicateKey(label: label, count: found.count) }
        guard let handle = found.first else { return nil }
        keys.withLock { $0.handles[label] = handle }
        return handle
    }

    /// Forgets the cached handle of a key (after destroying it).
    public func forgetKey(labelled label: String) {
        keys.withLock { _ = $0.handles.removeValue(forKey: label) }
    }

    func noteSessionObject(_ template: [Attribute]) {
        guard !template.contains(.token(true)) else { return }
        keys.withLock { $0.sessionObjects += 1 }
    }
}
