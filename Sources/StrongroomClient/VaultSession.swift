import GRPCCore
import GRPCNIOTransportHTTP2
import StrongroomCore
import StrongroomProto

/// One Session stream to a `strongroom serve` (docs/server.md, "Sessions"): Store, Load, List,
/// Versions, Erase and Status requests sent one after another over a single HTTP/2 stream, which costs
/// the server far less per request than a unary RPC each.
///
/// A session is used by the one task that opened it: each call sends its request and waits for the
/// answer before returning, so calls are answered in order. A request the server refuses or fails
/// throws the same ``RPCError`` (status, message, `strongroom-code` and `strongroom-exit`) the unary
/// RPC would have, and the session goes on. When the server drains, the stream ends with UNAVAILABLE
/// and every later call throws it.
public final class VaultSession {
    private let requests: AsyncStream<Strongroom_V1_SessionRequest>.Continuation
    private var responses: RPCAsyncSequence<Strongroom_V1_SessionResponse, any Error>.AsyncIterator
    private var nextID: UInt64 = 0

    init(
        requests: AsyncStream<Strongroom_V1_SessionRequest>.Continuation,
        responses: RPCAsyncSequence<Strongroom_V1_SessionResponse, any Error>.AsyncIterator
    ) {
        self.requests = requests
        self.responses = responses
    }

    /// Stores a new version of a share; the version number.
    public func store(_ request: Strongroom_V1_StoreRequest) async throws -> Strongroom_V1_StoreResponse {
        var message = Strongroom_V1_SessionRequest()
        message.store = request
        guard case .store(let answer) = try await send(message) else { throw Self.mismatch("store") }
        return answer
    }

    /// Loads a share (`version` 0: the newest). The secret is in the response's `secret`.
    public func load(_ request: Strongroom_V1_LoadRequest) async throws -> Strongroom_V1_LoadResponse {
        var message = Strongroom_V1_SessionRequest()
        message.load = request
        guard case .load(let answer) = try await send(message) else { throw Self.mismatch("load") }
        return answer
    }

    /// The shares the caller may list.
    public func list(_ request: Strongroom_V1_ListRequest) async throws -> Strongroom_V1_ListResponse {
        var message = Strongroom_V1_SessionRequest()
        message.list = request
        guard case .list(let answer) = try await send(message) else { throw Self.mismatch("list") }
        return answer
    }

    /// A share's stored versions.
    public func versions(_ request: Strongroom_V1_VersionsRequest) async throws -> Strongroom_V1_VersionsResponse {
        var message = Strongroom_V1_SessionRequest()
        message.versions = request
        guard case .versions(let answer) = try await send(message) else { throw Self.mismatch("versions") }
        return answer
    }

    /// Erases a share or some of its versions.
    public func erase(_ request: Strongroom_V1_EraseRequest) async throws -> Strongroom_V1_EraseResponse {
        var message = Strongroom_V1_SessionRequest()
        message.erase = request
        guard case .erase(let answer) = try await send(message) else { throw Self.mismatch("erase") }
        return answer
    }

    /// The vault's status.
    public func status(_ request: Strongroom_V1_StatusRequest = .init()) async throws -> Strongroom_V1_StatusResponse {
        var message = Strongroom_V1_SessionRequest()
        message.status = request
        guard case .status(let answer) = try await send(message) else { throw Self.mismatch("status") }
        return answer
    }

    /// Sends `message` (numbered here) and returns its answer, throwing the error it got as the unary
    /// RPC's `RPCError`.
    public func send(_ message: Strongroom_V1_SessionRequest) async throws -> Strongroom_V1_SessionResponse.OneOf_Response? {
        nextID &+= 1
        var message = message
        message.id = nextID
        guard case .enqueued = requests.yield(message) else {
            throw RPCError(code: .unavailable, message: "the session's stream has ended")
        }
        guard let response = try await responses.next() else {
            throw RPCError(code: .unavailable, message: "the server ended the session without answering request \(nextID)")
        }
        guard response.id == message.id else {
            throw RPCError(code: .internalError, message: "the server answered request \(response.id) where \(message.id) was expected")
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

    func finish() { requests.finish() }
}

extension StrongroomClient {
    /// Opens one Session stream on `vault` (with `metadata` on the stream), runs `body` with it, then
    /// closes the stream. Everything `body` sends goes over that one stream.
    public static func withSession<T: Sendable>(
        _ vault: Vault, metadata: Metadata = [:],
        _ body: @escaping @Sendable (VaultSession) async throws -> T
    ) async throws -> T {
        let (requests, continuation) = AsyncStream<Strongroom_V1_SessionRequest>.makeStream()
        return try await vault.session(metadata: metadata) { writer in
            for await request in requests {
                try await writer.write(request)
            }
        } onResponse: { response in
            let session = VaultSession(requests: continuation, responses: response.messages.makeAsyncIterator())
            defer { session.finish() }
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
