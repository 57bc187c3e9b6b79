import GRPCCore
import SecureCrypto
import StrongroomCore
import StrongroomProto

/// How the service turns what a handler throws into the gRPC status a client gets
/// (proto/strongroom/v1/strongroom.proto, "Errors"; docs/server.md, "API").
enum ServiceErrors {
    /// The status for a Strongroom error: ``RPCErrorMapping/rpcError(_:)``, with the server's own codes
    /// put on the statuses the proto names (sealed: FAILED_PRECONDITION, draining: UNAVAILABLE, unseal
    /// locked out: RESOURCE_EXHAUSTED).
    static func rpcError(_ error: StrongroomError) -> RPCError {
        var rpc = RPCErrorMapping.rpcError(error)
        switch error.code {
        case .sealed: rpc.code = .failedPrecondition
        case .draining: rpc.code = .unavailable
        case .unsealLockedOut: rpc.code = .resourceExhausted
        case .auditTampered: rpc.code = .dataLoss
        default: break
        }
        return rpc
    }

    /// A caller the transport could not identify: UNAUTHENTICATED, code `access denied`.
    static func unauthenticated(_ operation: PolicyOperation) -> RPCError {
        var rpc = rpcError(StrongroomError(
            .accessDenied,
            "the server could not tell who is calling (no peer credentials on the Unix socket and no TLS client certificate), so \(operation.rawValue) is refused"))
        rpc.code = .unauthenticated
        return rpc
    }

    /// Any error as a status: RPC errors pass through, Strongroom errors are mapped, a cancellation is
    /// CANCELLED, and anything else is INTERNAL with its description (errors here are secret-free by
    /// construction: SecureCrypto's and the tiers' errors never carry secret bytes).
    static func rpcError(_ error: any Error) -> RPCError {
        switch error {
        case let error as RPCError: return error
        case let error as StrongroomError: return rpcError(error)
        case is CancellationError: return RPCError(code: .cancelled, message: "the request was cancelled")
        case let error as CryptoError:
            return rpcError(StrongroomError(.crypto, error.reason))
        default:
            return rpcError(StrongroomError(.io, "the server failed: \(error)"))
        }
    }

    /// Runs `body`, throwing whatever it throws as an ``RPCError``.
    static func mapping<T>(_ body: () async throws -> T) async throws(RPCError) -> T {
        do {
            return try await body()
        } catch {
            throw rpcError(error)
        }
    }
}
