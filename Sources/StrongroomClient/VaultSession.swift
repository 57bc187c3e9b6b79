import GRPCCore
import Synchronization
import GRPCNIOTransportHTTP2
import StrongroomCore
import StrongroomProto

/// One Session stream to a `strongroom serve` (docs/server.md, "Sessions"): Store, Load, List,
/// Versions, Erase, Status and Health requests sent one after another over a single HTTP/2 stream, which costs
/// the server far less per request than a unary RPC each.
///
/// A session is used by the one task that opened it: each call sends its request and waits for the
/// answer before returning, so calls are answered in order. A request the server refuses or fails
/// throws the same ``RPCError`` (status, message, `strongroom-code` and `strongroom-exit`) the unary
/// RPC would have, and the session goes on. When the server drains, the stream ends with UNAVAILABLE
/// and every later call throws it.
public final class VaultSession {
    private let requests: RPCWriter<Strongroom_V1_SessionRequest>
    private var responses: RPCAsyncSequence<Strongroom_V1_SessionResponse, any Error>.AsyncIterator
    private var nextID: UInt64 = 0
    /// Why the stream ended, once it has: every later call throws it again.
    private var ended: (any Error)?

    init(
        requests: RPCWriter<Strongroom_V1_SessionRequest>,
        responses: RPCAsyncSequence<Strongroom_V1_SessionResponse, any Error>.AsyncIterator
    ) {
        self.requests = requests
        self.responses = responses
    }

    /// Stores a new version of a share; the version number.
    public func store(_ request: Strongroom_V1_StoreRequest) async throws -> Strongroom_V1_StoreResponse {
        try await call(.store(request), "store") { if case .store(let answer) = $0 { answer } else { nil } }
    }

    /// Loads a share (`version` 0: the newest). The secret is in the response's `secret`.
    public func load(_ request: Strongroom_V1_LoadRequest) async throws -> Strongroom_V1_LoadResponse {
        try await call(.load(request), "load") { if case .load(let answer) = $0 { answer } else { nil } }
    }

    /// The shares the caller may list.
    public func list(_ request: Strongroom_V1_ListRequest) async throws -> Strongroom_V1_ListResponse {
        try await call(.list(request), "list") { if case .list(let answer) = $0 { answer } else { nil } }
    }

    /// A share's stored versions.
    public func versions(_ request: Strongroom_V1_VersionsRequest) async throws -> Strongroom_V1_VersionsResponse {
        try await call(.versions(request), "versions") { if case .versions(let answer) = $0 { answer } else { nil } }
    }

    /// Erases a share or some of its versions.
    public func erase(_ request: Strongroom_V1_EraseRequest) async throws -> Strongroom_V1_EraseResponse {
        try await call(.erase(request), "erase") { if case .erase(let answer) = $0 { answer } else { nil } }
    }

    /// The vault's status.
    public func status(_ request: Strongroom_V1_StatusRequest = .init()) async throws -> Strongroom_V1_StatusResponse {
        try await call(.status(request), "status") { if case .status(let answer) = $0 { answer } else { nil } }
    }

    /// The server's health (serving, sealed or draining), as the Health RPC gives it.
    public func health(_ request: Strongroom_V1_HealthRequest = .init()) async throws -> Strongroom_V1_HealthResponse {
        try await call(.health(request), "health") { if case .health(let answer) = $0 { answer } else { nil } }
    }

    /// Sends `request` and returns the answer `extract` finds in its response (an answer of another
    /// kind is an error).
    private func call<Answer>(
        _ request: Strongroom_V1_SessionRequest.OneOf_Request, _ operation: String,
        _ extract: (Strongroom_V1_SessionResponse.OneOf_Response?) -> Answer?
    ) async throws -> Answer {
        var message = Strongroom_V1_SessionRequest()
        message.request = request
        guard let answer = extract(try await send(message)) else { throw Self.mismatch(operation) }
        return answer
    }

    /// Sends `message` (numbered here) and returns its answer, throwing the error it got as the unary
    /// RPC's `RPCError`.
    public func send(_ message: Strongroom_V1_SessionRequest) async throws -> Strongroom_V1_SessionResponse.OneOf_Response? {
        nextID &+= 1
        var message = message
        message.id = nextID
        if let ended { throw ended }
        do {
            try await requests.write(message)
        } catch {
            // The stream is closed; what the server said about it (a status) comes with the responses.
            var reason: any Error = error
            do { _ = try await responses.next() } catch let status { reason = status }
            ended = reason
            throw reason
        }
        let next: Strongroom_V1_SessionResponse?
        do {
            next = try await responses.next()
        } catch {
            ended = error  // the stream ended with this status (UNAVAILABLE when the server drains)
            throw error
        }
        guard let response = next else {
            let error = RPCError(code: .unavailable, message: "the server ended the session without answering request \(nextID)")
            ended = error
            throw error
        }
        guard response.id == message.id else {
            // Out of step: every later answer would belong to another request, so the session ends.
            let error = RPCError(code: .internalError, message: "the server answered request \(response.id) where \(message.id) was expected")
            ended = error
            throw error
        }
        if case .error(let failure) = response.response {
            throw Self.rpcError(failure)
        }
        return response.response
    }

    /// The `RPCError` a unary RPC would have thrown for `failure`.
    public static func rpcError(_ failure: Strongroom_V1_SessionError) -> RPCError {
        var metadata = Metadata()
        if !failure.code.isEmpty { metadata.addString(failure.code, forKey: RPCErrorMapping.codeKey) }
        if failure.exit != 0 { metadata.addString(String(failure.exit), forKey: RPCErrorMapping.exitKey) }
        let code = RPCError.Code(Status.Code(rawValue: Int(failure.status)) ?? .unknown) ?? .unknown
        return RPCError(code: code, message: failure.message, metadata: metadata)
    }

    private static func mismatch(_ operation: String) -> RPCError {
        RPCError(code: .internalError, message: "the server answered a session \(operation) request with another kind of response")
    }
}

/// Passes the Session stream's request writer from the request producer to the response handler, and
/// keeps the producer (and so the request side of the stream) open until ``release()``.
final class WriterHandoff: Sendable {
    private struct State {
        var writer: RPCWriter<Strongroom_V1_SessionRequest>?
        var taker: CheckedContinuation<RPCWriter<Strongroom_V1_SessionRequest>, Never>?
        var holder: CheckedContinuation<Void, Never>?
        var released = false
    }
    private let state = Mutex(State())

    /// Called by the producer: hands `writer` over and returns once the session is released.
    func offer(_ writer: RPCWriter<Strongroom_V1_SessionRequest>) async {
        await withCheckedContinuation { (hold: CheckedContinuation<Void, Never>) in
            let (taker, releasedAlready) = state.withLock { state in
                state.holder = hold
                if let taker = state.taker {
                    state.taker = nil
                    return (Optional(taker), state.released)
                }
                state.writer = writer
                return (nil, state.released)
            }
            taker?.resume(returning: writer)
            if releasedAlready { state.withLock { $0.holder = nil }; hold.resume() }
        }
    }

    /// Called by the response handler: the writer, once the producer has offered it.
    func take() async -> RPCWriter<Strongroom_V1_SessionRequest> {
        await withCheckedContinuation { (taker: CheckedContinuation<RPCWriter<Strongroom_V1_SessionRequest>, Never>) in
            let writer = state.withLock { state -> RPCWriter<Strongroom_V1_SessionRequest>? in
                if let writer = state.writer {
                    state.writer = nil
                    return writer
                }
                state.taker = taker
                return nil
            }
            if let writer { taker.resume(returning: writer) }
        }
    }

    /// Lets the producer return, which ends the request side of the stream.
    func release() {
        let holder = state.withLock { state in
            state.released = true
            defer { state.holder = nil }
            return state.holder
        }
        holder?.resume()
    }
}

extension StrongroomClient {
    /// Opens one Session stream on `vault` (with `metadata` on the stream), runs `body` with it, then
    /// closes the stream. Everything `body` sends goes over that one stream.
    public static func withSession<T: Sendable>(
        _ vault: Vault, metadata: Metadata = [:],
        _ body: @escaping @Sendable (VaultSession) async throws -> T
    ) async throws -> T {
        // The request side's writer is handed to the session, which writes from the caller's task (no
        // hop through a queue); the producer holds the request side open until the body is done.
        let handoff = WriterHandoff()
        return try await vault.session(metadata: metadata) { writer in
            await handoff.offer(writer)
        } onResponse: { response in
            defer { handoff.release() }
            // A stream the server refused outright has no producer to wait for.
            if case .failure(let error) = response.accepted { throw error }
            let writer = await handoff.take()
            let session = VaultSession(requests: writer, responses: response.messages.makeAsyncIterator())
            return try await body(session)
        }
    }

    /// Connects to `address`, opens one Session stream and runs `body` with it.
    public static func withSession<T: Sendable>(
        _ address: ServerAddress, tls: ClientTLSFiles? = nil,
        _ body: @escaping @Sendable (VaultSession) async throws -> T
    ) async throws -> T {
        try await withVault(address, tls: tls) { vault in
            try await withSession(vault, body)
        }
    }
}
