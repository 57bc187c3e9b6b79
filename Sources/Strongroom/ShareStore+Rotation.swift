import Foundation
import Logging

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
    ///   - progress: called after each share version.
    public func rotateWrappingKey(
        dryRun: Bool = false, progress: (@Sendable (RotationProgress) -> Void)? = nil
    ) async throws -> RotationReport {
        if dryRun {
            return try await blobs.withLock(.shared) {
                let state = try await readState()
                let target = state.rotation?.target ?? state.currentKEKVersion + 1
                return try await rewrapAll(target: target, resumed: state.rotation != nil, dryRun: true, progress: progress)
            }
        }
        return try await blobs.withLock(.exclusive) {
            var state = try await readState()
            let resumed = state.rotation != nil
            let target: UInt32
            if let pending = state.rotation {
                target = pending.target
                logger.info("resuming an interrupted rotation", metadata: ["kek.version": "\(target)"])
            } else {
                target = state.currentKEKVersion + 1
                try await keyring.prepareKEK(version: target)
                state.rotation = VaultState.Rotation(target: target, startedAt: UInt64(Date().timeIntervalSince1970))
                state.currentKEKVersion = target
                try await writeState(state)
                logger.info("rotation started", metadata: ["kek.version": "\(target)"])
            }
            try faults.check(.rotationJournalWritten)
            for id in try await shareIDs() { try await blobs.removeAbandonedWrites(under: ShareStore.sharePrefix(id)) }
            let report = try await rewrapAll(target: target, resumed: resumed, dryRun: false, progress: progress)
            guard report.failures.isEmpty else {
                logger.error(
                    "rotation incomplete", metadata: ["kek.version": "\(target)", "rotation.failed": "\(report.failures.count)"])
                throw StrongroomError(
                    .rotationIncomplete,
                    "\(report.failures.count) share version(s) could not be rewrapped to KEK version \(target) and were left as they were; the old KEK stays active. Erase or restore them, then run rotate again. First: \(report.failures[0])")
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

    private func rewrapAll(
        target: UInt32, resumed: Bool, dryRun: Bool, progress: (@Sendable (RotationProgress) -> Void)?
    ) async throws -> RotationReport {
        // Only ids and version numbers are held; each blob is read, rewrapped and written back in turn.
        var work: [(ShareID, [UInt64])] = []
        var total = 0
        for id in try await shareIDs() {
            let versions = try await versionNumbers(id)
            total += versions.count
            work.append((id, versions))
        }
        var state = RotationProgress(done: 0, total: total, rewrapped: 0, alreadyCurrent: 0, failed: 0)
        var fromVersions = Set<UInt32>()
        var failures: [String] = []
        var index = 0
        for (id, versions) in work {
            for version in versions {
                defer {
                    state.done += 1
                    progress?(state)
                }
                let key = ShareStore.blobKey(id, version)
                guard let blob = try await blobs.read(key) else { continue }  // erased meanwhile
                let envelope: Envelope
                do {
                    envelope = try checkedEnvelope(blob.bytes, id: id, version: version)
                } catch {
                    state.failed += 1
                    failures.append("share '\(id)' version \(version): \(error)")
                    continue
                }
                if envelope.sealed.kekVersion == target {
                    state.alreadyCurrent += 1
                    continue
                }
                fromVersions.insert(envelope.sealed.kekVersion)
                if dryRun {
                    state.rewrapped += 1
                    continue
                }
                do {
                    let sealed = try await keyring.rewrap(
                        envelope.sealed, associatedData: envelope.associatedData, to: target)
                    var updated = envelope
                    updated.sealed = sealed
                    try faults.check(.rotationBeforeReplace(index: index))
                    guard try await blobs.replace(key, updated.serialized(), ifRevision: blob.revision) else {
                        throw StrongroomError(.io, "the blob changed while it was being rewrapped")
                    }
                    try faults.check(.rotationAfterReplace(index: index))
                    index += 1
                    state.rewrapped += 1
                } catch let error as StrongroomError {
                    state.failed += 1
                    failures.append("share '\(id)' version \(version): \(error)")
                    logger.warning(
                        "could not rewrap share",
                        metadata: ["share.id": "\(id)", "share.version": "\(version)", "error": "\(error)"])
                }
            }
        }
        return RotationReport(
            fromVersions: fromVersions.sorted(), targetVersion: target, resumed: resumed, dryRun: dryRun,
            rewrapped: state.rewrapped, alreadyCurrent: state.alreadyCurrent, failures: failures)
    }
}
