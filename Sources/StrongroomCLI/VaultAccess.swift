import Foundation
import SecureCrypto
import Strongroom

/// What the vault commands (put, get, list, versions, erase, rotate, status, audit verify, audit show)
/// need of a vault: the store opened in this process (``ShareStore``), or a `strongroom serve` reached
/// with `--server` (``RemoteVault``). Each command prints the results the same way for both, so a
/// command run through a server prints what it would print locally and exits with the same status.
protocol VaultAccess: Sendable {
    /// How messages name the vault (`vault 3f…` locally, `the vault of server unix:/…` remotely).
    var vaultName: String { get }
    func store(_ id: ShareID, _ secret: SecretBytes, metadata: [String: String]) async throws -> UInt64
    func load(_ id: ShareID, version: UInt64?) async throws -> SecretBytes
    func list() async throws -> [ShareSummary]
    func versions(_ id: ShareID) async throws -> [ShareVersionInfo]
    func erase(_ id: ShareID) async throws -> Int
    func rotateWrappingKey(
        dryRun: Bool, concurrency: Int, progress: (@Sendable (RotationProgress) -> Void)?
    ) async throws -> RotationReport
    func status() async throws -> VaultStatus
    /// Verifies the audit log and records that it passed (`audit.verify`); a log that fails is not
    /// written to.
    func verifyAndRecordAudit() async throws -> AuditVerification
    func auditRecords(_ filter: AuditFilter, _ body: (AuditRecord) async throws -> Void) async throws
}

extension ShareStore: VaultAccess {
    var vaultName: String { "vault \(vaultID)" }

    func verifyAndRecordAudit() async throws -> AuditVerification {
        let result: AuditVerification
        do {
            result = try await verifyAudit()
        } catch {
            // Nothing is appended to a log that failed: a new record and checkpoint after a
            // truncation would make the rolled-back log look whole again.
            OpenStores.forget(self)
            throw error
        }
        try await recordAudit(
            AuditEvent(
                .auditVerify,
                details: [
                    "records": "\(result.records)", "checkpoints": "\(result.checkpoints)",
                    "tornTailBytes": "\(result.tornTailBytes)",
                ]),
            durable: true)
        return result
    }
}
