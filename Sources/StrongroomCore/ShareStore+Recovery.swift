import Foundation
import Logging
import SecureCrypto

/// Progress of a recovery key enrolment, reported after each share version or record.
public struct RecoveryEnrolmentProgress: Sendable, Hashable {
    /// Share versions and records visited so far.
    public var done: Int
    /// Share versions and records in the vault when the enrolment started (0 without a progress handler).
    public var total: Int
    /// Of those visited, how many were re-sealed with a section for the new key now.
    public var resealed: Int
    /// Of those visited, how many already had one (a resumed enrolment, or a store made since it began).
    public var alreadyEnrolled: Int
    /// Of those visited, how many could not be re-sealed.
    public var failed: Int
}

/// What a recovery key enrolment did (or, for a dry run, would do).
public struct RecoveryEnrolmentReport: Sendable, Hashable {
    /// The fingerprint of the key enrolled, 64 hex digits.
    public var fingerprint: String
    /// The fingerprint of the key it replaced, if the vault had one.
    public var replacedFingerprint: String?
    /// True when this run finished an enrolment an earlier run began.
    public var resumed: Bool
    /// True for a dry run: nothing was changed.
    public var dryRun: Bool
    /// Share versions and records re-sealed with a section for the key (dry run: that would be).
    public var resealed: Int
    /// Share versions and records that already had one.
    public var alreadyEnrolled: Int
    /// The first 100 reasons of ``failedCount``.
    public var failures: [String]
    /// Share versions and records that could not be re-sealed; the enrolment then stays pending.
    public var failedCount: Int
    /// Blobs that are not envelopes at all (torn or foreign files), the first 100 of ``tornBlobCount``.
    public var tornBlobs: [String]
    /// How many such blobs were skipped.
    public var tornBlobCount: Int
}

extension ShareStore {
    /// Enrols `key` as the vault's recovery key (or replaces the enrolled one with it): from the
    /// moment the enrolment is journalled every new share version is also sealed to it, and this pass
    /// re-seals every share version and record that has no section for it under a fresh data key with
    /// one (format v2, docs/format.md). A pass like rotation: under the exclusive lock, journalled in
    /// `vault.json` before any blob is touched, each blob replaced atomically after the new one
    /// verified (it opens through the tier, and its section names the key), only if the blob is
    /// unchanged; a run that dies part-way loses nothing and the next call finishes it.
    ///
    /// Blobs that cannot be re-sealed are left as they are and reported; the enrolment then stays
    /// pending and this throws ``StrongroomError/Code/recoveryEnrolmentIncomplete``. A tier whose
    /// keyring cannot seal under a given data key is refused before anything changes
    /// (``StrongroomError/Code/recoveryUnsupported``).
    ///
    /// - Parameters:
    ///   - dryRun: count what would be re-sealed and change nothing.
    ///   - concurrency: blobs re-sealed at once (1 to 64).
    ///   - progress: called after each share version or record; with a handler the pass counts the
    ///     vault first (``RecoveryEnrolmentProgress/total``).
    public func enrolRecoveryKey(
        _ key: RecoveryPublicKey, dryRun: Bool = false, concurrency: Int = 1,
        progress: (@Sendable (RecoveryEnrolmentProgress) -> Void)? = nil
    ) async throws -> RecoveryEnrolmentReport {
        let fingerprint = Hex.encode(key.fingerprint)
        var event = AuditEvent(.recoveryEnrolFinish, details: ["recoveryKey": fingerprint])
        if dryRun { event.details["dryRun"] = "true" }
        return try await auditedOperation(event, mutating: !dryRun, listing: false) { event in
            let report = try await enrol(key, dryRun: dryRun, concurrency: concurrency, progress: progress)
            event.details["resealed"] = "\(report.resealed)"
            event.details["alreadyEnrolled"] = "\(report.alreadyEnrolled)"
            event.details["failed"] = "\(report.failedCount)"
            event.details["torn"] = "\(report.tornBlobCount)"
            event.details["resumed"] = "\(report.resumed)"
            if let replaced = report.replacedFingerprint { event.details["replaced"] = replaced }
            return report
        }
    }

    /// ``enrolRecoveryKey(_:dryRun:concurrency:progress:)`` without its finish record; writes the
    /// `recovery.enrol.start` record (durably, before the journal).
    private func enrol(
        _ key: RecoveryPublicKey, dryRun: Bool, concurrency: Int, progress: (@Sendable (RecoveryEnrolmentProgress) -> Void)?
    ) async throws -> RecoveryEnrolmentReport {
        guard (1...64).contains(concurrency) else {
            throw StrongroomError(.invalidInput, "enrolment concurrency must be 1 to 64, got \(concurrency)")
        }
        let fingerprint = Hex.encode(key.fingerprint)
        if dryRun {
            return try await blobs.withLock(.shared) {
                let state = try await readState()
                let total = progress == nil ? 0 : try await countVersions()
                return try await resealAll(
                    key, state: state, resumed: state.pendingRecovery?.fingerprint == fingerprint, dryRun: true,
                    concurrency: 1, total: total, progress: progress)
            }
        }
        return try await blobs.withLock(.exclusive) {
            var state = try await readState()
            let replaced = state.recovery.flatMap { $0.fingerprint == fingerprint ? nil : $0.fingerprint }
            let resumed = state.pendingRecovery?.fingerprint == fingerprint
            try await recordAudit(
                AuditEvent(.recoveryEnrolStart, details: ["recoveryKey": fingerprint, "resumed": "\(resumed)"]), durable: true)
            if resumed {
                logger.info("resuming an interrupted recovery key enrolment", metadata: ["recovery.key": "\(fingerprint)"])
            } else {
                try await checkKeyringSealsGivenDataKeys(state)
                state.pendingRecovery = VaultState.Recovery(key, at: UInt64(Date().timeIntervalSince1970))
                try await writeState(state)
                logger.info("recovery key enrolment started", metadata: ["recovery.key": "\(fingerprint)"])
            }
            try faults.check(.recoveryJournalWritten)
            let total = progress == nil ? 0 : try await countVersions()
            var report = try await resealAll(
                key, state: state, resumed: resumed, dryRun: false, concurrency: concurrency, total: total,
                progress: progress)
            report.replacedFingerprint = replaced
            if report.failedCount > 0 {
                let first = report.failures.first ?? "(not kept)"
                logger.error("recovery key enrolment incomplete", metadata: ["recovery.failed": "\(report.failedCount)"])
                throw StrongroomError(
                    .recoveryEnrolmentIncomplete,
                    "\(report.failedCount) share version(s) or record(s) could not be sealed to recovery key \(fingerprint) and were left as they were; the enrolment stays pending (new shares are sealed to the key). Erase or restore them, then run `strongroom recovery enrol` again. First: \(first)")
            }
            for torn in report.tornBlobs {
                logger.warning("enrolment skipped a blob that is not an envelope", metadata: ["problem": "\(torn)"])
            }
            try faults.check(.recoveryBeforeFinish)
            state = try await readState()
            var enrolled = VaultState.Recovery(key, at: UInt64(Date().timeIntervalSince1970))
            if let pending = state.pendingRecovery, pending.fingerprint == fingerprint { enrolled.enrolledAt = pending.enrolledAt }
            state.recovery = enrolled
            state.pendingRecovery = nil
            try await writeState(state)
            logger.info(
                "recovery key enrolled", metadata: ["recovery.key": "\(fingerprint)", "recovery.resealed": "\(report.resealed)"])
            return report
        }
    }

    /// Seals a probe under a data key the store made: a tier that cannot (the ``Keyring`` default)
    /// is refused before the journal is written, since every store would fail from then on.
    private func checkKeyringSealsGivenDataKeys(_ state: VaultState) async throws {
        let (probe, dataKey) = try StrongroomError.mappingCrypto { () throws(CryptoError) in
            (try SecureRandom.secretBytes(count: 1), try SecureRandom.secretBytes(count: AESGCM.keySize))
        }
        let probeID = try ShareID("strongroom-recovery-probe")
        let aad = Envelope.associatedData(
            tierCode: tier.code, vaultID: vaultID, shareID: probeID, shareVersion: ShareStore.recordVersion,
            createdAt: UInt64(Date().timeIntervalSince1970), metadata: [])
        let sealed = try await keyring.seal(probe, dataKey: dataKey, associatedData: aad, kekVersion: state.currentKEKVersion)
        guard try await keyring.open(sealed, associatedData: aad) == probe else {
            throw StrongroomError(.crypto, "the \(tier) keyring's seal under a given data key did not open; nothing was changed")
        }
    }

    private func resealAll(
        _ key: RecoveryPublicKey, state: VaultState, resumed: Bool, dryRun: Bool, concurrency: Int, total: Int,
        progress: (@Sendable (RecoveryEnrolmentProgress) -> Void)?
    ) async throws -> RecoveryEnrolmentReport {
        let tally = Locked(Tally(progress: RotationProgress(done: 0, total: total, rewrapped: 0, alreadyCurrent: 0, failed: 0)))
        let record: @Sendable (Outcome) -> Void = { outcome in
            let event = tally.withLock { tally in
                tally.add(outcome)
                return tally.progress
            }
            progress?(
                RecoveryEnrolmentProgress(
                    done: event.done, total: event.total, resealed: event.rewrapped, alreadyEnrolled: event.alreadyCurrent,
                    failed: event.failed))
        }
        try await forEachBounded(
            concurrency: concurrency, walk: { body in try await forEachVersion { id, version in try await body((id, version)) } },
            work: { (item: (ShareID, UInt64)) in
                try await self.resealOne(item.0, item.1, key: key, state: state, dryRun: dryRun, tally: tally)
            },
            record: record)
        let final = tally.withLock { $0 }
        return RecoveryEnrolmentReport(
            fingerprint: Hex.encode(key.fingerprint), replacedFingerprint: nil, resumed: resumed, dryRun: dryRun,
            resealed: final.progress.rewrapped, alreadyEnrolled: final.progress.alreadyCurrent, failures: final.failures,
            failedCount: final.progress.failed, tornBlobs: final.torn, tornBlobCount: final.tornCount)
    }

    private func resealOne(
        _ id: ShareID, _ version: UInt64, key: RecoveryPublicKey, state: VaultState, dryRun: Bool, tally: Locked<Tally>
    ) async throws -> Outcome {
        let isRecord = version == ShareStore.recordVersion
        let blobKey = isRecord ? ShareStore.recordKey(id) : ShareStore.blobKey(id, version)
        let what = isRecord ? "record '\(id)'" : "share '\(id)' version \(version)"
        guard let blob = try await blobs.read(blobKey) else { return .gone }  // erased meanwhile
        let envelope: Envelope
        do {
            envelope = try checkedEnvelope(blob.bytes, id: id, version: version)
            try ShareStore.checkKEKVersion(envelope, state: state)
        } catch {
            if let torn = Envelope.tornReason(blob.bytes) {
                return .torn(
                    isRecord
                        ? "record '\(id)' (\(blobs.location)/\(blobKey)) is not a Strongroom envelope (\(torn)): a torn or foreign file; write the record again or remove it"
                        : tornProblem(id, version, torn))
            }
            return .failed("\(what): \(error)")
        }
        if envelope.recovery?.fingerprint == key.fingerprint { return .alreadyCurrent }
        if dryRun { return .rewrapped(from: envelope.sealed.kekVersion) }
        do {
            let secret = try await keyring.open(envelope.sealed, associatedData: envelope.associatedData)
            let (_, resealed) = try await sealEnvelope(
                id, version, secret, envelope.metadata, envelope.createdAt, state, recoveryKey: key)
            // Verify before the blob is replaced: the bytes written parse back to this share version,
            // carry a section for this key, and open through the tier to the same secret.
            let bytes = resealed.serialized()
            let check = try checkedEnvelope(bytes, id: id, version: version)
            guard check.recovery?.fingerprint == key.fingerprint, check.createdAt == envelope.createdAt,
                check.metadata == envelope.metadata,
                try await keyring.open(check.sealed, associatedData: check.associatedData) == secret
            else {
                throw StrongroomError(.crypto, "the re-sealed blob did not verify; it was left as it was")
            }
            try faults.check(.recoveryBeforeReplace(index: tally.withLock { $0.replaced }))
            guard try await blobs.replace(blobKey, bytes, ifRevision: blob.revision) else {
                throw StrongroomError(.io, "the blob changed while it was being re-sealed")
            }
            let index = tally.withLock { tally in
                tally.replaced += 1
                return tally.replaced - 1
            }
            try faults.check(.recoveryAfterReplace(index: index))
            return .rewrapped(from: envelope.sealed.kekVersion)
        } catch let error as StrongroomError {
            logger.warning(
                "could not seal a share version to the recovery key",
                metadata: ["share.id": "\(id)", "share.version": "\(version)", "error": "\(error)"])
            return .failed("\(what): \(error)")
        }
    }
}
