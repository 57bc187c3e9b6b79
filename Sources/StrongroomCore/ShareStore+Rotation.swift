import Foundation
import Logging
import Synchronization

extension ShareStore {
    /// Creates a new KEK version and rewraps every share version's data key under it; the share
    /// ciphertexts stay as they are.
    ///
    /// The rotation is journalled in the vault state before any share is touched, and each share
    /// version is replaced atomically after its rewrap verified, so a rotation that dies part-way
    /// loses nothing: the next call resumes it (nothing is rewrapped twice). Old KEK versions are
    /// retired only after every share version is under the new one. Share versions that cannot be
    /// rewrapped (a corrupted blob) are left untouched and reported; the rotation then stays pending
    /// with the old KEK active, and this throws ``StrongroomError/Code/rotationIncomplete``.
    ///
    /// - Parameters:
    ///   - dryRun: count what would be rewrapped and change nothing.
    ///   - concurrency: share versions rewrapped at once (1 to 64). Above 1 pays off when the keyring
    ///     is remote or has several sessions (an HSM, a KMS); each version is still replaced atomically.
    ///   - progress: called after each share version. With a handler, the rotation first counts the
    ///     share versions (``RotationProgress/total``): one more listing of each share.
    public func rotateWrappingKey(
        dryRun: Bool = false, concurrency: Int = 1, progress: (@Sendable (RotationProgress) -> Void)? = nil
    ) async throws -> RotationReport {
        let event = AuditEvent(.rotateFinish, details: dryRun ? ["dryRun": "true"] : [:])
        return try await auditedOperation(event, mutating: !dryRun, listing: false) { event in
            let report = try await rotate(dryRun: dryRun, concurrency: concurrency, progress: progress, event: &event)
            event.kekVersions = report.fromVersions + [report.targetVersion]
            event.details["rewrapped"] = "\(report.rewrapped)"
            event.details["alreadyCurrent"] = "\(report.alreadyCurrent)"
            event.details["failed"] = "\(report.failedCount)"
            event.details["torn"] = "\(report.tornBlobCount)"
            event.details["resumed"] = "\(report.resumed)"
            return report
        }
    }

    /// ``rotateWrappingKey(dryRun:concurrency:progress:)`` without its finish record; writes the
    /// `rotate.start` record (durably, before the journal) and fills in `event` as it learns the KEKs.
    private func rotate(
        dryRun: Bool, concurrency: Int, progress: (@Sendable (RotationProgress) -> Void)?, event: inout AuditEvent
    ) async throws -> RotationReport {
        guard (1...64).contains(concurrency) else {
            throw StrongroomError(.invalidInput, "rotation concurrency must be 1 to 64, got \(concurrency)")
        }
        if dryRun {
            return try await blobs.withLock(.shared) {
                let state = try await readState()
                let target = state.rotation?.target ?? state.currentKEKVersion + 1
                var planned = state
                planned.currentKEKVersion = target
                let total = progress == nil ? 0 : try await countVersions()
                return try await rewrapAll(
                    target: target, state: planned, resumed: state.rotation != nil, dryRun: true, concurrency: 1,
                    total: total, progress: progress)
            }
        }
        let progress = rotationProgressWithMetrics(progress)  // the rotation gauges (docs/metrics.md)
        return try await blobs.withLock(.exclusive) {
            var state = try await readState()
            let resumed = state.rotation != nil
            let target: UInt32
            let start = AuditEvent(
                .rotateStart,
                kekVersions: [state.oldestActiveKEKVersion, state.rotation?.target ?? state.currentKEKVersion + 1],
                details: ["resumed": "\(resumed)"])
            try await recordAudit(start, durable: true)
            if let pending = state.rotation {
                target = pending.target
                logger.info("resuming an interrupted rotation", metadata: ["kek.version": "\(target)"])
                try await keyring.resumeKEK(version: target) { try await self.anyBlob(sealedUnder: target) }
            } else {
                target = state.currentKEKVersion + 1
                try await keyring.prepareKEK(version: target)
                state.rotation = VaultState.Rotation(target: target, startedAt: UInt64(Date().timeIntervalSince1970))
                state.currentKEKVersion = target
                try await writeState(state)
                logger.info("rotation started", metadata: ["kek.version": "\(target)"])
            }
            try faults.check(.rotationJournalWritten)
            // Under the exclusive lock no write or erase is in flight: finish every destroy a crash
            // interrupted and delete every temporary file a crashed write left, in the whole vault.
            // With a progress handler, the same walk counts the share versions for `total` (one more
            // listing per share: worth it when someone watches, not otherwise).
            var leftovers = InterruptedWork()
            for prefix in ["", ShareStore.sharesPrefix, ShareStore.recordsPrefix] {
                leftovers.add(try await blobs.finishInterrupted(under: prefix, holdingExclusiveLock: true))
            }
            let total = try await countVersions(counting: progress != nil) { id in
                leftovers.add(try await self.blobs.finishInterrupted(under: ShareStore.sharePrefix(id), holdingExclusiveLock: true))
            }
            log(leftovers, "vault.location", blobs.location)
            var report = try await rewrapAll(
                target: target, state: state, resumed: resumed, dryRun: false, concurrency: concurrency, total: total,
                progress: progress)
            report.finishedInterrupted = leftovers
            if report.failedCount > 0 {
                let first = report.failures.first ?? "(not kept)"
                logger.error(
                    "rotation incomplete", metadata: ["kek.version": "\(target)", "rotation.failed": "\(report.failedCount)"])
                throw StrongroomError(
                    .rotationIncomplete,
                    "\(report.failedCount) share version(s) could not be rewrapped to KEK version \(target) and were left as they were; the old KEK stays active. Erase or restore them, then run rotate again. First: \(first)")
            }
            for torn in report.tornBlobs {
                logger.warning("rotation skipped a blob that is not an envelope", metadata: ["problem": "\(torn)"])
            }
            try faults.check(.rotationBeforeFinish)
            try await keyring.retireKEKs(olderThan: target)
            state.rotation = nil
            state.oldestActiveKEKVersion = target
            try await writeState(state)
            logger.info(
                "rotation finished",
                metadata: ["kek.version": "\(target)", "rotation.rewrapped": "\(report.rewrapped)"])
            return report
        }
    }

    /// Whether any share version or record is sealed under KEK version `kekVersion` (blobs that are
    /// not readable envelopes cannot be opened under any KEK and are not counted).
    private func anyBlob(sealedUnder kekVersion: UInt32) async throws -> Bool {
        var found = false
        try await forEachVersion { id, version in
            guard !found else { return }  // the walk still ends, without reading another blob
            let key = version == ShareStore.recordVersion ? ShareStore.recordKey(id) : ShareStore.blobKey(id, version)
            guard let blob = try await blobs.read(key),
                let envelope = try? checkedEnvelope(blob.bytes, id: id, version: version)
            else { return }
            found = envelope.sealed.kekVersion == kekVersion
        }
        return found
    }

    /// Calls `body` with every share version, then every sealed record (as version
    /// ``recordVersion``), walking the share and record directories as the blob store streams them
    /// (``BlobStore/forEachChild(of:_:)``, in no particular order): memory stays constant in the
    /// number of shares; one share's version numbers are held at a time.
    func forEachVersion(_ body: (ShareID, UInt64) async throws -> Void) async throws {
        try await blobs.forEachChild(of: ShareStore.sharesPrefix) { name in
            guard let id = try? ShareID(name) else { return }
            for version in try await versionNumbers(id) { try await body(id, version) }
        }
        try await blobs.forEachChild(of: ShareStore.recordsPrefix) { name in
            guard name.hasSuffix(".srb"), let id = try? ShareID(String(name.dropLast(4))) else { return }
            try await body(id, ShareStore.recordVersion)
        }
    }

    /// The number of share versions and sealed records, by one streaming walk; `eachShare` runs for
    /// each share id on the way, before its versions are listed. With `counting` false, only
    /// `eachShare` runs and the result is 0.
    func countVersions(
        counting: Bool = true, eachShare: (ShareID) async throws -> Void = { _ in }
    ) async throws -> Int {
        var total = 0
        try await blobs.forEachChild(of: ShareStore.sharesPrefix) { name in
            guard let id = try? ShareID(name) else { return }
            try await eachShare(id)
            if counting { total += try await versionNumbers(id).count }
        }
        guard counting else { return 0 }
        try await blobs.forEachChild(of: ShareStore.recordsPrefix) { name in
            if name.hasSuffix(".srb"), (try? ShareID(String(name.dropLast(4)))) != nil { total += 1 }
        }
        return total
    }

    private func rewrapAll(
        target: UInt32, state: VaultState, resumed: Bool, dryRun: Bool, concurrency: Int, total: Int,
        progress: (@Sendable (RotationProgress) -> Void)?
    ) async throws -> RotationReport {
        // Nothing per share outlives its visit: the walk streams the share directories, each blob is
        // read, rewrapped and written back in turn, and the report keeps counts plus the first
        // ``Tally/keptProblems`` problems. Sealed records (version 0) are rewrapped like share versions.
        let tally = Locked(Tally(progress: RotationProgress(done: 0, total: total, rewrapped: 0, alreadyCurrent: 0, failed: 0)))
        let record: @Sendable (Outcome) -> Void = { outcome in
            let event = tally.withLock { tally in
                tally.add(outcome)
                return tally.progress
            }
            progress?(event)
        }
        try await forEachBounded(
            concurrency: concurrency, walk: { body in try await forEachVersion { id, version in try await body((id, version)) } },
            work: { (item: (ShareID, UInt64)) in
                try await self.rewrapOne(item.0, item.1, target: target, state: state, dryRun: dryRun, tally: tally)
            },
            record: record)
        let final = tally.withLock { $0 }
        return RotationReport(
            fromVersions: final.fromVersions.sorted(), targetVersion: target, resumed: resumed, dryRun: dryRun,
            rewrapped: final.progress.rewrapped, alreadyCurrent: final.progress.alreadyCurrent, failures: final.failures,
            failedCount: final.progress.failed, tornBlobs: final.torn, tornBlobCount: final.tornCount)
    }

    enum Outcome: Sendable {
        case gone
        case alreadyCurrent
        case rewrapped(from: UInt32)
        case failed(String)
        /// Not an envelope at all (``Envelope/tornReason(_:)``): skipped, reported, not a failure.
        case torn(String)
    }

    struct Tally: Sendable {
        /// Failures and torn blobs kept with their text (each also counted): the report stays small
        /// however many share versions fail.
        static let keptProblems = 100

        var progress: RotationProgress
        var fromVersions = Set<UInt32>()
        var failures: [String] = []
        var torn: [String] = []
        var tornCount = 0
        var replaced = 0

        mutating func add(_ outcome: Outcome) {
            progress.done += 1
            switch outcome {
            case .gone: break
            case .torn(let problem):
                tornCount += 1
                if torn.count < Tally.keptProblems { torn.append(problem) }
            case .alreadyCurrent: progress.alreadyCurrent += 1
            case .rewrapped(let from):
                progress.rewrapped += 1
                fromVersions.insert(from)
            case .failed(let reason):
                progress.failed += 1
                if failures.count < Tally.keptProblems { failures.append(reason) }
            }
        }
    }

    private func rewrapOne(
        _ id: ShareID, _ version: UInt64, target: UInt32, state: VaultState, dryRun: Bool, tally: Locked<Tally>
    ) async throws -> Outcome {
        let isRecord = version == ShareStore.recordVersion
        let key = isRecord ? ShareStore.recordKey(id) : ShareStore.blobKey(id, version)
        let what = isRecord ? "record '\(id)'" : "share '\(id)' version \(version)"
        guard let blob = try await blobs.read(key) else { return .gone }  // erased meanwhile
        let envelope: Envelope
        do {
            envelope = try checkedEnvelope(blob.bytes, id: id, version: version)
            // A blob from before a finished rotation must not be laundered into the new KEK.
            try ShareStore.checkKEKVersion(envelope, state: state)
        } catch {
            // Bytes that are provably no envelope (torn, foreign) hold nothing any KEK opens: they do
            // not hold the rotation back. Anything that is an envelope and fails a check does.
            if let torn = Envelope.tornReason(blob.bytes) {
                return .torn(
                    isRecord
                        ? "record '\(id)' (\(blobs.location)/\(key)) is not a Strongroom envelope (\(torn)): a torn or foreign file; write the record again or remove it"
                        : tornProblem(id, version, torn))
            }
            return .failed("\(what): \(error)")
        }
        if envelope.sealed.kekVersion == target { return .alreadyCurrent }
        if dryRun { return .rewrapped(from: envelope.sealed.kekVersion) }
        do {
            let sealed = try await keyring.rewrap(envelope.sealed, associatedData: envelope.associatedData, to: target)
            var updated = envelope
            updated.sealed = sealed
            try faults.check(.rotationBeforeReplace(index: tally.withLock { $0.replaced }))
            guard try await blobs.replace(key, updated.serialized(), ifRevision: blob.revision) else {
                throw StrongroomError(.io, "the blob changed while it was being rewrapped")
            }
            let index = tally.withLock { tally in
                tally.replaced += 1
                return tally.replaced - 1
            }
            try faults.check(.rotationAfterReplace(index: index))
            return .rewrapped(from: envelope.sealed.kekVersion)
        } catch let error as StrongroomError {
            logger.warning(
                "could not rewrap share",
                metadata: ["share.id": "\(id)", "share.version": "\(version)", "error": "\(error)"])
            return .failed("\(what): \(error)")
        }
    }
}
