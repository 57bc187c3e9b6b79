import Foundation
import SecureCrypto
import StrongroomCore

/// Audit records of the engine's operations (issue 15, docs/audit.md): key generation, signing,
/// refresh, erase and repair are recorded in the store(s) they touch, through the store's public
/// ``ShareStore/recordAudit(_:outcome:durable:)``, so library users get them as the CLI does. The
/// shares' own store/load/erase records are written by the store; these say what the engine did with
/// them. Details hold only public facts: the group, participant ids, a threshold, an epoch, a SHA-256
/// digest of the message or signing package. Never a share, a nonce or a key byte.
enum FROSTAudit {
    /// Runs `body`, then records `event` in each of `stores` with its outcome (ok, or the error's
    /// code). Under the store's fail-closed mode a record that cannot be written after a success
    /// fails the call, so nothing the operation produced is returned unrecorded.
    static func record<T>(
        _ event: AuditEvent, in stores: [ShareStore], _ body: (inout AuditEvent) async throws -> T
    ) async throws -> T {
        var event = event
        let result: T
        do {
            result = try await body(&event)
        } catch {
            let outcome = outcome(of: error)
            for store in stores { try? await store.recordAudit(event, outcome: outcome, durable: true) }
            throw error
        }
        for store in stores { try await store.recordAudit(event, outcome: .ok, durable: true) }
        return result
    }

    /// The outcome recorded for an error: a store error's code, else an engine error's code with the
    /// exit status the CLI gives it.
    static func outcome(of error: any Error) -> AuditOutcome {
        if let error = error as? StrongroomError {
            return .error(code: error.code.name, exitStatus: error.code.exitStatus)
        }
        if let error = error as? FROSTError {
            let status: Int32 =
                switch error.code {
                case .malformedEncoding, .invalidSignatureShare, .invalidSignature, .invalidPackage: 65
                case .shareGone, .groupState: 66
                case .sessionUsed, .sessionExpired, .refreshIncomplete: 75
                default: 64
                }
            return .error(code: error.code.rawValue, exitStatus: status)
        }
        return .error(code: StrongroomError.Code.io.name, exitStatus: StrongroomError.Code.io.exitStatus)
    }

    /// `1,2,3`: participant ids for details.
    static func list(_ ids: some Sequence<ParticipantID>) -> String {
        ids.map { "\($0)" }.joined(separator: ",")
    }

    /// SHA-256 of public bytes (a message, a signing package), hex.
    static func digest(_ bytes: [UInt8]) -> String { SHA256.hexHash(bytes) }
}
