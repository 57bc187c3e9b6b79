import Foundation
import Logging
import SecureCrypto

/// Progress of a migration, reported after each share version or record.
public struct MigrationProgress: Sendable, Hashable {
    /// The phase under way (``MigrationJournal/Phase/copying``, ``MigrationJournal/Phase/finalPass``
    /// or ``MigrationJournal/Phase/erasingSource``).
    public var phase: MigrationJournal.Phase
    /// Items (share versions and records) visited in this phase.
    public var done: Int
    /// Items in the source when the migration started (counted before the copy: 0 without a handler).
    public var total: Int
    /// Items created in the destination by this run so far.
    public var copied: Int
    /// Items found already copied (and equal) by this run so far.
    public var alreadyPresent: Int
}

/// What a migration did (or, for a dry run, would do).
public struct MigrationReport: Sendable, Hashable {
    /// The source vault.
    public var sourceVaultID: VaultID
    /// The destination vault.
    public var destinationVaultID: VaultID
    /// True for a dry run: nothing was written anywhere.
    public var dryRun: Bool
    /// True when the destination held a journal of an earlier run from this source (resumed or repeated).
    public var resumed: Bool
    /// Share ids in the source (as the final pass, or the dry run, counted them).
    public var shares = 0
    /// Share versions in the source (records not included).
    public var versions = 0
    /// Records in the source.
    public var records = 0
    /// Items (versions and records) created in the destination by this run; for a dry run, that would be.
    public var copied = 0
    /// Items already in the destination, identical (copied by an earlier run).
    public var alreadyPresent = 0
    /// Of ``copied``, those the final pass found: written to the source while the copy ran.
    public var caughtInFinalPass = 0
    /// Items verified equal in the destination by the final pass (every source item).
    public var verified = 0
    /// Source shares erased (``Migration/eraseSource`` only).
    public var erasedShares = 0
    /// Source share versions erased.
    public var erasedVersions = 0
    /// Source records erased.
    public var erasedRecords = 0
    /// Dry run: the first 100 items that would be copied, one line each.
    public var planned: [String] = []
}

/// Copies every share version and record of a vault into another vault, of any tier, re-sealed under
/// the destination's keys with version numbers, created-at and metadata unchanged (docs/operations.md,
/// "Migrating a vault between tiers").
///
/// 1. Refuses a destination that is the source itself, or that holds shares but no journal of a
///    migration from this source; writes the journal (``MigrationJournal``) in the destination.
/// 2. Copy pass (the source stays in use): each item is opened from the source, imported
///    (``ShareStore/importVersion(_:secret:)``: create-if-absent, else compared) and loaded back from
///    the destination and compared in locked memory before the item counts as copied.
/// 3. Final pass under the source's ``MigrationSource/withFinalPassLock(_:)``: every source item again,
///    copying what was written meanwhile and verifying the rest; the journal then says `verified`.
/// 4. Only with ``eraseSource``, still under that lock: each source share is erased once every one of
///    its versions is in the destination (records once equal there).
///
/// Every step is idempotent, so a run killed at any instant is resumed by running it again; the
/// source is never erased before a whole final pass verified the destination in the same run.
public struct Migration: Sendable {
    /// Where the items come from.
    public let source: any MigrationSource
    /// Where they go.
    public let destination: ShareStore
    /// Items copied at once (1 to 64); above 1 pays off when a keyring is remote or has several
    /// sessions (an HSM, a KMS).
    public var concurrency: Int
    /// Erase the source's shares and records after the destination verified (the source must be a
    /// ``ShareStore``).
    public var eraseSource: Bool
    /// Count and list what would be copied; write nothing at all.
    public var dryRun: Bool
    let logger: Logger

    /// Prepares a migration; ``run(progress:)`` performs it. It logs to `logger`, else to the destination's.
    public init(
        from source: any MigrationSource, to destination: ShareStore, concurrency: Int = 1, eraseSource: Bool = false,
        dryRun: Bool = false, logger: Logger? = nil
    ) {
        self.source = source
        self.destination = destination
        self.concurrency = concurrency
        self.eraseSource = eraseSource
        self.dryRun = dryRun
        var logger = logger ?? destination.logger
        logger[metadataKey: "migration.source"] = "\(source.vaultID.hex)"
        logger[metadataKey: "migration.destination"] = "\(destination.vaultID.hex)"
        self.logger = logger
    }

    /// Runs (or resumes) the migration. `progress` is called after each item; with a handler, the
    /// source's items are first counted (one more walk of the source).
    public func run(progress: (@Sendable (MigrationProgress) -> Void)? = nil) async throws -> MigrationReport {
        let sourceStore = source as? ShareStore
        var event = AuditEvent(
            .migrate,
            details: [
                "source": source.vaultID.hex, "sourceLocation": source.location, "destination": destination.vaultID.hex,
                "destinationLocation": destination.location, "eraseSource": "\(eraseSource)", "dryRun": "\(dryRun)",
            ])
        if let sourceStore, !dryRun, sourceStore.auditSettings.mode != .off {
            do {
                try await sourceStore.audit.sink.checkWritable()
            } catch {
                try sourceStore.handleAuditFailure(event, error, sourceStore.auditSettings.mode, performed: false)
            }
        }
        do {
            let report = try await destination.auditedOperation(event, mutating: !dryRun, listing: false) { event in
                let report = try await runUnaudited(progress: progress)
                event.details["copied"] = "\(report.copied)"
                event.details["alreadyPresent"] = "\(report.alreadyPresent)"
                event.details["verified"] = "\(report.verified)"
                event.details["erasedShares"] = "\(report.erasedShares)"
                event.details["erasedVersions"] = "\(report.erasedVersions)"
                event.details["erasedRecords"] = "\(report.erasedRecords)"
                event.details["resumed"] = "\(report.resumed)"
                return report
            }
            event.details["copied"] = "\(report.copied)"
            event.details["verified"] = "\(report.verified)"
            event.details["erasedShares"] = "\(report.erasedShares)"
            event.details["erasedVersions"] = "\(report.erasedVersions)"
            try await sourceStore?.recordAudit(event, durable: !dryRun)
            return report
        } catch {
            if let sourceStore, (error as? StrongroomError)?.code != .auditUnavailable {
                let code = (error as? StrongroomError)?.code ?? .io
                try? await sourceStore.recordAudit(event, outcome: .error(code: code.name, exitStatus: code.exitStatus), durable: !dryRun)
            }
            throw error
        }
    }

    /// ``run(progress:)`` without its audit records.
    func runUnaudited(progress: (@Sendable (MigrationProgress) -> Void)?) async throws -> MigrationReport {
        guard (1...64).contains(concurrency) else {
            throw StrongroomError(.invalidInput, "migration concurrency must be 1 to 64, got \(concurrency)")
        }
        let sourceStore = source as? ShareStore
        if eraseSource && sourceStore == nil {
            throw StrongroomError(.invalidInput, "the source at \(source.location) is read-only: it cannot be erased")
        }
        guard source.vaultID != destination.vaultID else {
            throw StrongroomError(
                .migrationRefused,
                "the destination is the source vault itself (vault \(source.vaultID.hex) at \(source.location)); nothing to migrate")
        }
        _ = try await destination.freshState()  // the destination vault exists and is this vault
        var journal = try await readJournal()
        let resumed = journal != nil
        if journal == nil { try await refuseUnlessEmpty() }
        var report = MigrationReport(
            sourceVaultID: source.vaultID, destinationVaultID: destination.vaultID, dryRun: dryRun, resumed: resumed)
        if dryRun { return try await plan(report) }

        let now = UInt64(Date().timeIntervalSince1970)
        var current = journal ?? MigrationJournal(
            sourceVaultID: source.vaultID.hex, sourceLocation: source.location, destinationVaultID: destination.vaultID.hex,
            phase: .copying, startedAt: now, updatedAt: now)
        if resumed {
            current.resumes += 1
            logger.info("resuming a migration", metadata: ["migration.phase": "\(current.phase.rawValue)"])
        }
        current.phase = .copying
        try await write(&current)
        journal = current

        let total = progress == nil ? 0 : try await countItems()
        let tally = Locked(MigrationProgress(phase: .copying, done: 0, total: total, copied: 0, alreadyPresent: 0))
        try await forEachItem { item in try await self.copy(item) } record: { outcome in
            let event = tally.withLock { tally in
                tally.done += 1
                if outcome == .created { tally.copied += 1 } else { tally.alreadyPresent += 1 }
                return tally
            }
            progress?(event)
        }
        let copyPass = tally.withLock { $0 }
        report.copied = copyPass.copied
        report.alreadyPresent = copyPass.alreadyPresent
        current.copied += copyPass.copied
        current.alreadyPresent += copyPass.alreadyPresent

        return try await source.withFinalPassLock {
            var journal = current
            var report = report
            journal.phase = .finalPass
            try await write(&journal)
            try await finalPass(&report, progress: progress, total: total)
            journal.copied += report.caughtInFinalPass
            journal.verified = report.verified
            journal.phase = .verified
            try await write(&journal)
            logger.info("destination verified", metadata: ["migration.verified": "\(report.verified)"])
            if eraseSource, let sourceStore {
                journal.phase = .erasingSource
                try await write(&journal)
                try await erase(sourceStore, &report, journal: &journal, progress: progress, total: total)
            }
            journal.phase = .done
            try await write(&journal)
            return report
        }
    }

    // MARK: Phases

    /// Dry run: walks the source and counts what is not yet in the destination (existence only).
    private func plan(_ report: MigrationReport) async throws -> MigrationReport {
        var report = report
        var present = 0
        var missing = 0
        var planned: [String] = []
        try await walkCounting(&report) { item in
            let key = item.isRecord ? ShareStore.recordKey(item.shareID) : ShareStore.blobKey(item.shareID, item.version)
            if try await destination.blobs.read(key) != nil {
                present += 1
            } else {
                missing += 1
                if planned.count < 100 { planned.append("\(item)") }
            }
        }
        report.alreadyPresent = present
        report.copied = missing
        report.planned = planned
        return report
    }

    /// Every source item again under the source's lock: copy what is missing, compare the rest.
    private func finalPass(
        _ report: inout MigrationReport, progress: (@Sendable (MigrationProgress) -> Void)?, total: Int
    ) async throws {
        let tally = Locked(MigrationProgress(phase: .finalPass, done: 0, total: total, copied: 0, alreadyPresent: 0))
        var counts = report
        counts.shares = 0
        counts.versions = 0
        counts.records = 0
        var lastShare: ShareID?
        try await forEachItem { item in try await self.copy(item) } record: { outcome in
            let event = tally.withLock { tally in
                tally.done += 1
                if outcome == .created { tally.copied += 1 } else { tally.alreadyPresent += 1 }
                return tally
            }
            progress?(event)
        } eachItem: { item in
            if item.isRecord {
                counts.records += 1
            } else {
                counts.versions += 1
                if item.shareID != lastShare {
                    counts.shares += 1
                    lastShare = item.shareID
                }
            }
        }
        let final = tally.withLock { $0 }
        report.shares = counts.shares
        report.versions = counts.versions
        report.records = counts.records
        report.caughtInFinalPass = final.copied
        report.copied += final.copied
        report.verified = final.done
        if final.copied > 0 {
            logger.notice(
                "the final pass copied versions written to the source during the migration",
                metadata: ["migration.caught": "\(final.copied)"])
        }
    }

    /// Erases the source's shares and records, holding its exclusive lock (taken by the caller): a
    /// share only once every one of its versions is in the destination, a record only once equal there.
    private func erase(
        _ store: ShareStore, _ report: inout MigrationReport, journal: inout MigrationJournal,
        progress: (@Sendable (MigrationProgress) -> Void)?, total: Int
    ) async throws {
        var event = MigrationProgress(
            phase: .erasingSource, done: 0, total: total, copied: report.copied, alreadyPresent: report.alreadyPresent)
        // The walk is redone in batches: names are not removed from under a running walk. A share
        // directory without versions (an erase killed after its last destroy) is removed, or, when
        // something else keeps it, left and not visited again.
        var leftAlone = Set<ShareID>()
        while true {
            var batch: [ShareID] = []
            do {
                try await store.blobs.forEachChild(of: ShareStore.sharesPrefix) { name in
                    guard let id = try? ShareID(name), !leftAlone.contains(id) else { return }
                    batch.append(id)
                    if batch.count == Migration.eraseBatch { throw BatchFull() }
                }
            } catch is BatchFull {}
            if batch.isEmpty { break }
            for id in batch {
                let versions = try await store.versionNumbers(id)
                for version in versions {
                    if try await destination.blobs.read(ShareStore.blobKey(id, version)) != nil { continue }
                    // Only a blob that is provably no envelope (torn, foreign: the walks skip it) may go uncopied.
                    guard let blob = try await store.blobs.read(ShareStore.blobKey(id, version)),
                        Envelope.tornReason(blob.bytes) == nil
                    else { continue }
                    throw StrongroomError(
                        .migrationConflict,
                        "share '\(id)' version \(version) appeared in the source after the destination verified; nothing of that share was erased. Stop writers of the source and run migrate again")
                }
                let erased: Int
                do {
                    erased = try await store.eraseHoldingExclusiveLock(id)
                } catch let error as StrongroomError where error.code == .shareNotFound {
                    try? await store.blobs.removePrefix(ShareStore.sharePrefix(id))
                    leftAlone.insert(id)
                    continue
                }
                report.erasedShares += 1
                report.erasedVersions += erased
                journal.erased += 1
                event.done += erased
                progress?(event)
            }
        }
        var records: [ShareID] = []
        try await store.blobs.forEachChild(of: ShareStore.recordsPrefix) { name in
            guard name.hasSuffix(".srb"), let id = try? ShareID(String(name.dropLast(4))) else { return }
            records.append(id)  // records are few (one per FROST group)
        }
        for name in records {
            let item = try await recordItem(store, name)
            guard let item else { continue }
            let secret = try await store.open(item)
            try await destination.checkSame(item, secret: secret)
            try await store.blobs.destroy(ShareStore.recordKey(name))
            try await store.blobs.destroy(ShareStore.unauthenticatedRecordKey(name))
            report.erasedRecords += 1
            journal.erased += 1
            event.done += 1
            progress?(event)
        }
        logger.notice(
            "erased the migrated source",
            metadata: ["migration.erased.shares": "\(report.erasedShares)", "migration.erased.records": "\(report.erasedRecords)"])
    }

    static let eraseBatch = 1000
    private struct BatchFull: Error {}

    private func recordItem(_ store: ShareStore, _ name: ShareID) async throws -> MigrationItem? {
        guard let blob = try await store.blobs.read(ShareStore.recordKey(name)) else { return nil }
        let envelope = try store.checkedEnvelope(blob.bytes, id: name, version: ShareStore.recordVersion)
        return MigrationItem(shareID: name, version: ShareStore.recordVersion, createdAt: envelope.createdAt, metadata: envelope.metadata)
    }

    // MARK: One item

    /// Opens `item` from the source, imports it and, when it was created now, loads it back from the
    /// destination and compares bytes, created-at and metadata (an existing copy was compared by the import).
    private func copy(_ item: MigrationItem) async throws -> ImportOutcome {
        let secret = try await source.open(item)
        let outcome = try await destination.importVersionUnaudited(item, secret: secret)
        if outcome == .created {
            let back = try await destination.loadExact(item)
            guard back.secret == secret, back.createdAt == item.createdAt, back.metadata == item.metadata else {
                throw StrongroomError(
                    .integrityCheckFailed,
                    "\(item) was written to \(destination.location) but does not load back equal to the source's; it is left there and the source untouched. Check the destination's storage, erase that share there, then run migrate again")
            }
        }
        return outcome
    }

    // MARK: Walks

    /// Walks the source, running `work` on up to ``concurrency`` items at once, `record` on each result
    /// (on the walking task), and `eachItem` on each item as the walk meets it.
    private func forEachItem(
        _ work: @escaping @Sendable (MigrationItem) async throws -> ImportOutcome,
        record: (ImportOutcome) -> Void, eachItem: (MigrationItem) -> Void = { _ in }
    ) async throws {
        try await forEachBounded(
            concurrency: concurrency,
            walk: { body in
                try await source.forEachShareVersion { item in
                    eachItem(item)
                    try await body(item)
                }
            },
            work: work, record: record)
    }

    private func walkCounting(
        _ report: inout MigrationReport, _ body: (MigrationItem) async throws -> Void
    ) async throws {
        var lastShare: ShareID?
        var counted = report
        try await source.forEachShareVersion { item in
            if item.isRecord {
                counted.records += 1
            } else {
                counted.versions += 1
                if item.shareID != lastShare {
                    counted.shares += 1
                    lastShare = item.shareID
                }
            }
            try await body(item)
        }
        report.shares = counted.shares
        report.versions = counted.versions
        report.records = counted.records
    }

    private func countItems() async throws -> Int {
        var total = 0
        try await source.forEachShareVersion { _ in total += 1 }
        return total
    }

    // MARK: Journal

    private func readJournal() async throws -> MigrationJournal? {
        guard let blob = try await destination.blobs.read(MigrationJournal.key) else { return nil }
        let journal = try MigrationJournal.decode(blob.bytes, location: destination.location)
        guard journal.sourceVaultID == source.vaultID.hex else {
            throw StrongroomError(
                .migrationRefused,
                "\(destination.location) is the destination of a migration from vault \(journal.sourceVaultID) (\(journal.sourceLocation)), not from vault \(source.vaultID.hex) (\(source.location)); two vaults are never mixed. Migrate into a new vault")
        }
        guard journal.destinationVaultID == destination.vaultID.hex else {
            throw StrongroomError(
                .integrityCheckFailed,
                "\(destination.location)/\(MigrationJournal.key) names destination vault \(journal.destinationVaultID), not this vault \(destination.vaultID.hex); it was copied from elsewhere")
        }
        return journal
    }

    /// Refuses a destination holding any share or record (no journal says they came from this source).
    private func refuseUnlessEmpty() async throws {
        struct Found: Error { let name: String }
        do {
            try await destination.blobs.forEachChild(of: ShareStore.sharesPrefix) { name in
                if (try? ShareID(name)) != nil { throw Found(name: "share '\(name)'") }
            }
            try await destination.blobs.forEachChild(of: ShareStore.recordsPrefix) { name in
                throw Found(name: "record '\(name)'")
            }
        } catch let found as Found {
            throw StrongroomError(
                .migrationRefused,
                "the destination \(destination.location) already holds shares (\(found.name), ...) and no journal of a migration from vault \(source.vaultID.hex); two vaults are never mixed. Migrate into a new, empty vault")
        }
    }

    private func write(_ journal: inout MigrationJournal) async throws {
        journal.updatedAt = UInt64(Date().timeIntervalSince1970)
        _ = try await destination.blobs.replace(MigrationJournal.key, try journal.encoded(), ifRevision: nil)
    }
}
