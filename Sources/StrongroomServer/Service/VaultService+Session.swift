import Dispatch
import GRPCCore
import StrongroomCore
import StrongroomProto

/// The Session RPC (docs/server.md, "Sessions"): many requests over one stream.
///
/// A unary RPC costs a new HTTP/2 stream, its headers, a task and the interceptors; on a small machine
/// that costs more than the store's own work. A session pays for it once. Each request in it still goes
/// through the very handler its unary RPC uses (``store(request:context:)`` and the rest): the same
/// admission with the identity the stream was opened with, the same policy decision and audit record,
/// the same errors, and Store and Erase still run to their end when the client goes away.
///
/// Requests are answered one at a time, in order. Each one runs in a task of its own that the stream's
/// cancellation does not reach, and its answer is written before the next request is read, so a drain
/// or a disconnect never cuts a request in half: the server finishes the request in hand, and when it
/// drains it ends the stream with UNAVAILABLE instead of reading another. The write of an answer can
/// be cancelled (a client that stops reading while the server drains).

extension VaultService {
    public func session(
        request: StreamingServerRequest<Strongroom_V1_SessionRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Strongroom_V1_SessionResponse> {
        let metadata = request.metadata
        return StreamingServerResponse { writer in
            let ended: SessionEnd = try await withThrowingTaskGroup(of: SessionEnd.self) { group in
                group.addTask {
                    for try await message in request.messages {
                        // The request runs to its end even if the stream is cancelled (a drain, a
                        // disconnect); the write of its answer may be cancelled: a client that
                        // stops reading cannot hold the drain.
                        let answer = await Task { await self.answer(message, metadata: metadata, context: context) }.value
                        try await writer.write(answer)
                        if runtime.draining { return .draining }
                    }
                    return .finished
                }
                group.addTask {
                    await runtime.waitUntilDraining()
                    return .draining
                }
                let first = try await group.next() ?? .finished
                group.cancelAll()
                return first
            }
            if ended == .draining {
                throw ServiceErrors.rpcError(StrongroomError(.draining, "the server is shutting down and ends the session; open a new one on the restarted server"))
            }
            return [:]
        }
    }

    private enum SessionEnd: Sendable { case finished, draining }

    /// The answer to one request of a session: the response of its unary handler, or the error that
    /// handler threw as a ``Strongroom_V1_SessionError``. Counted for the metrics as `Session.<Op>`.
    func answer(
        _ message: Strongroom_V1_SessionRequest, metadata: Metadata, context: ServerContext
    ) async -> Strongroom_V1_SessionResponse {
        let started = DispatchTime.now().uptimeNanoseconds
        var response = Strongroom_V1_SessionResponse()
        response.id = message.id
        let rpc = Self.rpcName(of: message)
        do {
            switch message.request {
            case .store(let inner):
                response.store = try await store(request: ServerRequest(metadata: metadata, message: inner), context: context).message
            case .load(let inner):
                response.load = try await load(request: ServerRequest(metadata: metadata, message: inner), context: context).message
            case .list(let inner):
                response.list = try await list(request: ServerRequest(metadata: metadata, message: inner), context: context).message
            case .versions(let inner):
                response.versions = try await versions(request: ServerRequest(metadata: metadata, message: inner), context: context).message
            case .erase(let inner):
                response.erase = try await erase(request: ServerRequest(metadata: metadata, message: inner), context: context).message
            case .status(let inner):
                response.status = try await status(request: ServerRequest(metadata: metadata, message: inner), context: context).message
            case .health(let inner):
                response.health = try await health(request: ServerRequest(metadata: metadata, message: inner), context: context).message
            case nil:
                throw StrongroomError(
                    .invalidInput, "session request \(message.id) names no operation (store, load, list, versions, erase, status or health)")
            }
            RequestMetricsInterceptor.record(rpc: rpc, error: nil, startedAt: started)
        } catch {
            let failure = ServiceErrors.rpcError(error)
            response.error = Self.sessionError(failure)
            RequestMetricsInterceptor.record(rpc: rpc, error: failure, startedAt: started)
        }
        return response
    }

    static func rpcName(of message: Strongroom_V1_SessionRequest) -> String {
        switch message.request {
        case .store: "Session.Store"
        case .load: "Session.Load"
        case .list: "Session.List"
        case .versions: "Session.Versions"
        case .erase: "Session.Erase"
        case .status: "Session.Status"
        case .health: "Session.Health"
        case nil: "Session"
        }
    }

    /// What a unary RPC would have sent as its status and trailing metadata.
    static func sessionError(_ error: RPCError) -> Strongroom_V1_SessionError {
        var failure = Strongroom_V1_SessionError()
        failure.status = UInt32(error.code.rawValue)
        failure.message = error.message
        failure.code = error.metadata[stringValues: RPCErrorMapping.codeKey].first(where: { _ in true }) ?? ""
        failure.exit = error.metadata[stringValues: RPCErrorMapping.exitKey].first(where: { _ in true }).flatMap { UInt32($0) } ?? 0
        return failure
    }
}
