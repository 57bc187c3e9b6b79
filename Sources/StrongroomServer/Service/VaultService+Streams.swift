import Foundation
import GRPCCore
import Strongroom
import StrongroomCore
import StrongroomProto

// The long operations (streaming their progress) and the audit log's RPCs.
extension VaultService {
    public func rotate(
        request: ServerRequest<Strongroom_V1_RotateRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Strongroom_V1_RotateEvent> {
        let (admission, store, concurrency) = try await ServiceErrors.mapping {
            let concurrency = try ProgressStream.concurrency(request.message.concurrency)
            let admission = try await admit(.rotate, shareID: nil, metadata: request.metadata, context: context)
            return (admission, try host.store(), concurrency)
        }
        let dryRun = request.message.dryRun
        return StreamingServerResponse { writer in
            try await ServiceErrors.mapping {
                let report = try await ProgressStream.run(
                    admission, context: context, writer: writer,
                    event: { progress in
                        var event = Strongroom_V1_RotateEvent()
                        event.progress = Self.progress(
                            done: progress.done, total: progress.total, changed: progress.rewrapped,
                            unchanged: progress.alreadyCurrent, failed: progress.failed)
                        return event
                    },
                    isLast: { $0.done == $0.total },
                    operation: { progress in
                        try await store.rotateWrappingKey(dryRun: dryRun, concurrency: concurrency, progress: progress)
                    })
                var summary = Strongroom_V1_RotationReport()
                summary.fromVersions = report.fromVersions
                summary.targetVersion = report.targetVersion
                summary.resumed = report.resumed
                summary.dryRun = report.dryRun
                summary.rewrapped = UInt64(report.rewrapped)
                summary.alreadyCurrent = UInt64(report.alreadyCurrent)
                summary.failed = UInt64(report.failedCount)
                summary.failures = report.failures
                var event = Strongroom_V1_RotateEvent()
                event.report = summary
                try await writer.write(event)
                return [:]
            }
        }
    }

    public func enrolRecovery(
        request: ServerRequest<Strongroom_V1_EnrolRecoveryRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Strongroom_V1_EnrolRecoveryEvent> {
        let (admission, store, concurrency, key) = try await ServiceErrors.mapping {
            let concurrency = try ProgressStream.concurrency(request.message.concurrency)
            let key = try RecoveryPublicKey(
                fileContents: [UInt8](request.message.publicKey), source: "the request's public_key")
            let admission = try await admit(.recovery, shareID: nil, metadata: request.metadata, context: context)
            return (admission, try host.store(), concurrency, key)
        }
        let dryRun = request.message.dryRun
        return StreamingServerResponse { writer in
            try await ServiceErrors.mapping {
                let report = try await ProgressStream.run(
                    admission, context: context, writer: writer,
                    event: { progress in
                        var event = Strongroom_V1_EnrolRecoveryEvent()
                        event.progress = Self.progress(
                            done: progress.done, total: progress.total, changed: progress.resealed,
                            unchanged: progress.alreadyEnrolled, failed: progress.failed)
                        return event
                    },
                    isLast: { $0.done == $0.total },
                    operation: { progress in
                        try await store.enrolRecoveryKey(key, dryRun: dryRun, concurrency: concurrency, progress: progress)
                    })
                var event = Strongroom_V1_EnrolRecoveryEvent()
                event.report = VaultDocuments.recoveryEnrolmentSummary(report, fingerprint: key.fingerprintText)
                    .joined(separator: "\n")
                try await writer.write(event)
                return [:]
            }
        }
    }

    public func migrate(
        request: ServerRequest<Strongroom_V1_MigrateRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Strongroom_V1_MigrateEvent> {
        let path = request.message.destinationConfig
        let (admission, store, concurrency) = try await ServiceErrors.mapping {
            let concurrency = try ProgressStream.concurrency(request.message.concurrency)
            guard path.hasPrefix("/") else {
                throw StrongroomError(
                    .invalidInput,
                    "a migration's destination_config must be the absolute path, on the server's host, of the destination vault's configuration file")
            }
            let admission = try await admit(.migrate, shareID: nil, metadata: request.metadata, context: context)
            return (admission, try host.store(), concurrency)
        }
        let dryRun = request.message.dryRun
        let eraseSource = request.message.eraseSource
        let logger = self.logger
        return StreamingServerResponse { writer in
            try await ServiceErrors.mapping {
                let configuration = try await StrongroomConfiguration.load(filePath: path)
                let destination = try await ShareStore.open(configuration: configuration, logger: logger)
                let started = ContinuousClock.now
                let report: MigrationReport
                do {
                    report = try await ProgressStream.run(
                        admission, context: context, writer: writer,
                        event: { (progress: MigrationProgress) in
                            var event = Strongroom_V1_MigrateEvent()
                            event.progress = Self.progress(
                                done: progress.done, total: progress.total, changed: progress.copied,
                                unchanged: progress.alreadyPresent, failed: 0)
                            return event
                        },
                        isLast: { $0.done == $0.total },
                        operation: { (progress: @escaping @Sendable (MigrationProgress) -> Void) in
                            let migration = Migration(
                                from: store, to: destination, concurrency: concurrency, eraseSource: eraseSource,
                                dryRun: dryRun, logger: logger)
                            return try await migration.run(progress: dryRun ? nil : progress)
                        })
                } catch {
                    try? await destination.checkpointAudit()
                    throw error
                }
                // As the CLI does before it exits: the destination's log gets its checkpoint.
                try await destination.checkpointAudit()
                let seconds = Double((ContinuousClock.now - started).components.seconds)
                    + Double((ContinuousClock.now - started).components.attoseconds) / 1e18
                var event = Strongroom_V1_MigrateEvent()
                event.report = VaultDocuments.migrationSummary(report, seconds: seconds, eraseSource: eraseSource)
                    .joined(separator: "\n")
                try await writer.write(event)
                return [:]
            }
        }
    }

    public func auditVerify(
        request: ServerRequest<Strongroom_V1_AuditVerifyRequest>, context: ServerContext
    ) async throws -> ServerResponse<Strongroom_V1_AuditVerifyResponse> {
        try await ServiceErrors.mapping {
            let admission = try await admit(.audit, shareID: nil, metadata: request.metadata, context: context)
            let store = try host.store()
            var response = Strongroom_V1_AuditVerifyResponse()
            let result: AuditVerification
            do {
                result = try await admission.run { try await store.verifyAudit() }
            } catch let error as StrongroomError where error.code == .auditTampered {
                // The damage is the answer; nothing is appended to a log that failed.
                response.ok = false
                response.problem = error.reason
                return ServerResponse(message: response)
            }
            try await admission.run {
                try await store.recordAudit(VaultDocuments.auditVerifyEvent(result), durable: true)
            }
            response.ok = true
            response.records = result.records
            if let warning = VaultDocuments.tornTailWarning(result) { response.warnings = [warning] }
            response.json = VaultDocuments.auditVerificationJSON(result)
            return ServerResponse(message: response)
        }
    }

    public func auditShow(
        request: ServerRequest<Strongroom_V1_AuditShowRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Strongroom_V1_AuditRecordLine> {
        let (admission, store, filter) = try await ServiceErrors.mapping {
            let message = request.message
            let shareID = message.shareID.isEmpty ? nil : try ShareID(message.shareID)
            if !message.op.isEmpty && !VaultDocuments.isOperationFilter(message.op) {
                throw StrongroomError(
                    .invalidInput,
                    "op takes an operation name (store, load, frost, frost.sign ...), got \(ShareID.quoted(message.op))")
            }
            var since: Date?
            if !message.since.isEmpty {
                guard let date = VaultDocuments.parseSince(message.since, now: Date()) else {
                    throw StrongroomError(
                        .invalidInput,
                        "since takes an ISO 8601 time (2026-12-01T10:00:00Z), a date (2026-12-01) or an age (90s, 15m, 2h, 7d), got \(ShareID.quoted(message.since))")
                }
                since = date
            }
            let admission = try await admit(.audit, shareID: nil, metadata: request.metadata, context: context)
            let filter = AuditFilter(shareID: shareID, operation: message.op.isEmpty ? nil : message.op, since: since)
            return (admission, try host.store(), filter)
        }
        return StreamingServerResponse { writer in
            try await ServiceErrors.mapping {
                try await admission.run {
                    try await store.auditRecords(filter) { record in
                        // A client that went away stops the reading (nothing changes by reading).
                        if context.cancellation.isCancelled { throw CancellationError() }
                        var line = Strongroom_V1_AuditRecordLine()
                        line.line = record.line
                        try await writer.write(line)
                    }
                }
                return [:]
            }
        }
    }

    static func progress(done: Int, total: Int, changed: Int, unchanged: Int, failed: Int) -> Strongroom_V1_RotationProgress {
        var progress = Strongroom_V1_RotationProgress()
        progress.done = UInt64(max(0, done))
        progress.total = UInt64(max(0, total))
        progress.rewrapped = UInt64(max(0, changed))
        progress.alreadyCurrent = UInt64(max(0, unchanged))
        progress.failed = UInt64(max(0, failed))
        return progress
    }
}
