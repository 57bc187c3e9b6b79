import CoreMetrics
import Dispatch
import GRPCCore
import Synchronization

/// Counts every RPC for the metrics endpoint (docs/server.md, "Metrics"):
/// `strongroom_server_requests_total{rpc,outcome}` (outcome `ok` or the gRPC status code name),
/// `strongroom_server_request_duration_seconds{rpc}`, `strongroom_server_denials_total{rpc}` (refused
/// by the policy or unidentified) and the `strongroom_server_requests_in_flight` gauge. Without a
/// metrics backend (no `server.metrics`) the calls are no-ops.
///
/// It also counts the running RPCs in `runtime`, which a draining server waits on.
struct RequestMetricsInterceptor: ServerInterceptor {
    private let inFlight = Meter(label: "strongroom_server_requests_in_flight")
    let runtime: ServerRuntime

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let rpc = context.descriptor.method
        let started = DispatchTime.now().uptimeNanoseconds
        let inFlight = self.inFlight
        inFlight.increment()
        let running = RunningRPC(runtime: runtime) { inFlight.decrement() }
        @Sendable func finish(_ error: (any Error)?) {
            guard running.end() else { return }
            Self.record(rpc: rpc, error: error, startedAt: started)
        }
        let response: StreamingServerResponse<Output>
        do {
            response = try await next(request, context)
        } catch {
            finish(error)
            throw error
        }
        switch response.accepted {
        case .failure(let error):
            finish(error)
            return response
        case .success(var contents):
            let producer = contents.producer
            // grpc-swift skips the producer when the response headers cannot be written (the client
            // reset the stream first): `running` then ends when this closure is released.
            contents.producer = { writer in
                do {
                    let trailers = try await producer(writer)
                    finish(nil)
                    return trailers
                } catch {
                    finish(error)
                    throw error
                }
            }
            return StreamingServerResponse(accepted: .success(contents))
        }
    }

    /// Counts one finished request of `rpc` (a method name, or `Session.Load` and the like for a request
    /// inside a Session stream) begun at `started` (`DispatchTime` uptime nanoseconds): its outcome, its
    /// duration, and a denial when it was refused or unidentified.
    static func record(rpc: String, error: (any Error)?, startedAt started: UInt64) {
        let outcome: String
        if let error {
            let code = (error as? RPCError)?.code ?? .unknown
            outcome = String(describing: code)
            if code == .permissionDenied || code == .unauthenticated {
                Counter(label: "strongroom_server_denials_total", dimensions: [("rpc", rpc)]).increment()
            }
        } else {
            outcome = "ok"
        }
        Counter(label: "strongroom_server_requests_total", dimensions: [("rpc", rpc), ("outcome", outcome)]).increment()
        Timer(label: "strongroom_server_request_duration_seconds", dimensions: [("rpc", rpc)])
            .recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
    }
}

/// One RPC counted as running (in the runtime and the in-flight gauge) until ``end()``, which counts it
/// out exactly once; if nothing ends it, the last release does, so an RPC whose response producer never
/// ran cannot hold a draining server forever.
final class RunningRPC: Sendable {
    private let ended = Atomic<Bool>(false)
    private let runtime: ServerRuntime
    private let onEnd: @Sendable () -> Void

    init(runtime: ServerRuntime, onEnd: @escaping @Sendable () -> Void) {
        self.runtime = runtime
        self.onEnd = onEnd
        runtime.rpcBegan()
    }

    /// Counts the RPC out; true the first time only.
    @discardableResult
    func end() -> Bool {
        guard !ended.exchange(true, ordering: .acquiringAndReleasing) else { return false }
        runtime.rpcEnded()
        onEnd()
        return true
    }

    deinit { end() }
}
