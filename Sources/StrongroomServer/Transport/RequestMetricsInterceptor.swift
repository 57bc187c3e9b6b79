import CoreMetrics
import Dispatch
import GRPCCore

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
        let inFlight = self.inFlight, runtime = self.runtime
        inFlight.increment()
        runtime.rpcBegan()
        @Sendable func finish(_ error: (any Error)?) {
            inFlight.decrement()
            runtime.rpcEnded()
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
