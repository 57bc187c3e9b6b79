import Foundation
import Logging
import SecureCrypto

// The public audit API of the store (docs/audit.md). Every public ShareStore operation runs inside
// `audited`, which writes its record and calls `recordOperationMetrics` (ShareStore+Metrics.swift).

extension ShareStore {
    /// The audit settings in force (``AuditSettings/standard`` until ``configureAudit(_:)``).
    public var auditSettings: AuditSettings { audit.settings }

    /// Sets the audit settings (``ShareStore/open(configuration:logger:)`` applies the configuration's).
    public func configureAudit(_ settings: AuditSettings) {
        audit.settingsBox.withLock { $0 = settings }
    }

    /// Where the audit log is (a file, an S3 prefix).
    public var auditLocation: String { audit.sink.location }

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
        try await auditedOperation(event, mutating: mutating, listing: false, body)
    }

    /// ``audited(_:mutating:_:)``; a `listing` (list, versions, status) is recorded only with
    /// `audit.recordListings`.
    func auditedOperation<T: Sendable>(
        _ event: AuditEvent, mutating: Bool, listing: Bool, _ body: (inout AuditEvent) async throws -> T
    ) async throws -> T {
        var event = event
        if let rule = AuditContext.policyRule, event.details["policy"] == nil { event.details["policy"] = rule }
        let settings = audit.settings
        let recording = settings.mode != .off && (!listing || settings.recordListings)
        if recording && mutating {
            do {
                try await audit.checkBeforeMutation()
            } catch {
                try handleAuditFailure(event, error, settings.mode, performed: false)
            }
        }
        let started = ContinuousClock.now
        let result: T
        do {
            result = try await body(&event)
        } catch {
            let code = (error as? StrongroomError)?.code ?? .io
            let outcome = AuditOutcome.error(code: code.name, exitStatus: code.exitStatus)
            recordOperationMetrics(event, outcome: outcome, duration: ContinuousClock.now - started)
            if recording {
                do {
                    try await audit.write(event, outcome: outcome, durable: mutating)
                } catch let auditError {
                    // The operation failed anyway: its own error is what the caller needs; the
                    // missing record is logged.
                    logger.error(
                        "could not write the audit record of a failed operation",
                        metadata: ["audit.op": "\(event.operation)", "audit.location": "\(audit.sink.location)", "error": "\(auditError)"])
                }
            }
            throw error
        }
        recordOperationMetrics(event, outcome: .ok, duration: ContinuousClock.now - started)
        if recording {
            do {
                try await audit.write(event, outcome: .ok, durable: mutating)
            } catch {
                // Fail-closed: `result` (a loaded share) goes out of scope here unreturned; SecretBytes
                // zeroes its memory when released.
                try handleAuditFailure(event, error, settings.mode, performed: mutating)
            }
        }
        return result
    }

    /// Applies the mode to a record that could not be written: throws
    /// ``StrongroomError/Code/auditUnavailable`` (fail-closed) or logs a warning (best-effort).
    /// `performed`: the operation had already changed the vault.
    func handleAuditFailure(_ event: AuditEvent, _ error: any Error, _ mode: AuditMode, performed: Bool) throws {
        let reason = (error as? StrongroomError)?.reason ?? "\(error)"
        let cause = (error as? StrongroomError)?.cause
        switch mode {
        case .off:
            return
        case .bestEffort:
            logger.warning(
                "audit record not written (audit.mode best-effort): the operation goes on",
                metadata: ["audit.op": "\(event.operation)", "audit.location": "\(audit.sink.location)", "error": "\(error)"])
        case .failClosed:
            let what = event.shareID.map { "\(event.operation) of '\($0)'" } ?? "\(event.operation)"
            let consequence = performed
                ? "the operation was performed, but its record is missing"
                : "the operation was refused (nothing was released or changed)"
            throw StrongroomError(
                .auditUnavailable,
                "the audit record of \(what) could not be written to \(audit.sink.location): \(reason); \(consequence). Fix the audit log (audit.mode is fail-closed)",
                cause: cause)
        }
    }

    /// Records an operation that the caller performed itself (FROST, `hsm check`, a migration's
    /// summary), applying the audit mode as ``audited(_:mutating:_:)`` does.
    public func recordAudit(_ event: AuditEvent, outcome: AuditOutcome = .ok, durable: Bool = true) async throws {
        let mode = audit.settings.mode
        guard mode != .off else { return }
        do {
            try await audit.write(event, outcome: outcome, durable: durable)
        } catch {
            try handleAuditFailure(event, error, mode, performed: true)
        }
    }

    /// Writes a MAC checkpoint now, records it in `vault.json` and makes the log durable. The CLI calls
    /// it before it exits; a long-running process also gets one every `audit.checkpointInterval` records.
    public func checkpointAudit() async throws {
        let mode = audit.settings.mode
        guard mode != .off else { return await audit.background.finish() }
        do {
            try await audit.checkpoint()
        } catch {
            await audit.background.finish()
            try handleAuditFailure(AuditEvent(.checkpoint), error, mode, performed: false)
        }
        // Background syncs and anchors end before the caller (a CLI about to exit) goes on.
        await audit.background.finish()
    }

    /// Verifies the whole log: the hash chain, every checkpoint's MAC, and that the checkpoint in
    /// `vault.json` is in the log. Throws ``StrongroomError/Code/auditTampered`` naming the first bad
    /// record (its seq and line) and what is wrong with it.
    public func verifyAudit() async throws -> AuditVerification {
        let state = try await freshState()
        return try await audit.verify(stateCheckpoint: state.audit)
    }

    /// Calls `body` with each record that passes `filter`, oldest first (a torn last line is skipped).
    /// Reading does not verify: `audit show` says so and points to `audit verify`.
    public func auditRecords(_ filter: AuditFilter = AuditFilter(), _ body: (AuditRecord) async throws -> Void) async throws {
        try await audit.records(filter, body)
    }
}
