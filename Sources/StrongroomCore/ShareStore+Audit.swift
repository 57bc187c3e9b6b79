import Foundation
import Logging

// CONTRACT (issue 15): the public audit API of the store. Lane "core" fills in the bodies; every
// public ShareStore operation runs inside `audited` (lane "core" wraps them), and `audited` calls
// `recordOperationMetrics` (lane "metrics", ShareStore+Metrics.swift).

extension ShareStore {
    /// The audit settings in force (``AuditSettings/standard`` until ``configureAudit(_:)``).
    public var auditSettings: AuditSettings { audit.settings }

    /// Sets the audit settings (``ShareStore/open(configuration:logger:)`` applies the configuration's).
    public func configureAudit(_ settings: AuditSettings) {
        audit.settingsBox.withLock { $0 = settings }
    }

    /// Runs `body` as one audited and measured operation: `body` may fill in the event's versions, KEK
    /// versions and details as it learns them; when it returns or throws, the record is written with
    /// the outcome (ok, or the error's code) and the metrics are updated.
    ///
    /// Fail-closed (the default): when the record cannot be written the call throws
    /// ``StrongroomError/Code/auditUnavailable`` and its result (a loaded share) is wiped, never
    /// returned. Best-effort: a warning is logged and the result returned. Off: nothing is recorded.
    /// Mutating operations check ``AuditSink/checkWritable()`` before `body` runs.
    public func audited<T: Sendable>(
        _ event: AuditEvent, mutating: Bool = false, _ body: (inout AuditEvent) async throws -> T
    ) async throws -> T {
        var event = event
        let started = ContinuousClock.now
        do {
            let result = try await body(&event)
            recordOperationMetrics(event, outcome: .ok, duration: ContinuousClock.now - started)
            try await audit.write(event, outcome: .ok, durable: mutating)
            return result
        } catch {
            let code = (error as? StrongroomError)?.code ?? .io
            let outcome = AuditOutcome.error(code: code.name, exitStatus: code.exitStatus)
            recordOperationMetrics(event, outcome: outcome, duration: ContinuousClock.now - started)
            try? await audit.write(event, outcome: outcome, durable: mutating)
            throw error
        }
    }

    /// Records an operation that the caller performed itself (FROST, `hsm check`, a migration's
    /// summary), applying the audit mode as ``audited(_:mutating:_:)`` does.
    public func recordAudit(_ event: AuditEvent, outcome: AuditOutcome = .ok, durable: Bool = true) async throws {
        try await audit.write(event, outcome: outcome, durable: durable)
    }

    /// Writes a MAC checkpoint now, records it in `vault.json` and makes the log durable. The CLI calls
    /// it before it exits; a long-running process also gets one every `audit.checkpointInterval` records.
    public func checkpointAudit() async throws {
        // lane core
    }

    /// Verifies the whole log: the hash chain, every checkpoint's MAC, and that the checkpoint in
    /// `vault.json` is in the log. Throws ``StrongroomError/Code/auditTampered`` naming the first bad
    /// record (its seq and line) and what is wrong with it.
    public func verifyAudit() async throws -> AuditVerification {
        throw StrongroomError(.io, "not implemented")  // lane core
    }

    /// Calls `body` with each record that passes `filter`, oldest first (a torn last line is skipped).
    /// Reading does not verify: `audit show` says so and points to `audit verify`.
    public func auditRecords(_ filter: AuditFilter = AuditFilter(), _ body: (AuditRecord) async throws -> Void) async throws {
        // lane core
    }
}
