import GRPCCore
import StrongroomCore

/// How a ``StrongroomError`` travels in a gRPC status, and back (proto/strongroom/v1/strongroom.proto,
/// "Errors"): the status message is the error's description (secret-free by construction), and the
/// trailing metadata carries the code's name (`strongroom-code`) and exit status (`strongroom-exit`), so
/// a client rebuilds the same code and a CLI run through a server exits as a local one would.
public enum RPCErrorMapping {
    /// Metadata key of the error code's name.
    public static let codeKey = "strongroom-code"
    /// Metadata key of the error code's exit status.
    public static let exitKey = "strongroom-exit"

    /// The gRPC status code for a Strongroom error code.
    public static func statusCode(for code: StrongroomError.Code) -> RPCError.Code {
        switch code.exitStatus {
        case 64: return .invalidArgument
        case 66 where code == .shareNotFound: return .notFound
        case 66: return .failedPrecondition
        case 77 where code == .accessDenied: return .permissionDenied
        case 77: return .permissionDenied
        case 65 where code == .integrityCheckFailed || code.name == "audit log tampered": return .dataLoss
        case 65: return .failedPrecondition
        case 69, 74: return .unavailable
        case 75: return .aborted
        case 73: return .alreadyExists
        case 78: return .failedPrecondition
        default: return .internalError
        }
    }

    /// The gRPC error a handler throws for `error`.
    public static func rpcError(_ error: StrongroomError) -> RPCError {
        var metadata = Metadata()
        metadata.addString(error.code.name, forKey: codeKey)
        metadata.addString(String(error.code.exitStatus), forKey: exitKey)
        return RPCError(code: statusCode(for: error.code), message: error.description, metadata: metadata)
    }

    /// The Strongroom error a client rebuilds from a gRPC error: the code named by the metadata (or, for
    /// a status the server did not make — a transport failure, a message too large — a code from the
    /// status), the message as the reason.
    public static func strongroomError(_ error: RPCError) -> StrongroomError {
        let name = error.metadata[stringValues: codeKey].first(where: { _ in true })
        let exit = error.metadata[stringValues: exitKey].first(where: { _ in true }).flatMap { Int32($0) }
        if let name, let exit {
            let prefix = "\(name): "
            let reason = error.message.hasPrefix(prefix) ? String(error.message.dropFirst(prefix.count)) : error.message
            return StrongroomError(StrongroomError.Code(name, exitStatus: exit), reason)
        }
        let code: StrongroomError.Code
        switch error.code {
        case .unavailable, .deadlineExceeded: code = .tierUnavailable
        case .permissionDenied, .unauthenticated: code = .accessDenied
        case .invalidArgument, .resourceExhausted, .outOfRange: code = .invalidInput
        case .notFound: code = .shareNotFound
        default: code = .io
        }
        return StrongroomError(code, "the server answered \(error.code): \(error.message)")
    }
}
