import Foundation
import Logging
import SecureCrypto
import StrongroomCore

/// The outcome of a refresh.
public struct RefreshReport: Sendable, Hashable {
    /// The epoch the shares are now at.
    public let epoch: UInt32
    /// True when this run finished a refresh an earlier run had left after storing the new shares.
    public let resumedInterrupted: Bool
    /// True when this run rolled back a refresh an earlier run had left before all new shares were
    /// stored (and then refreshed afresh).
    public let rolledBackInterrupted: Bool
    /// Old share versions destroyed.
    public let erasedVersions: Int
}

extension FROSTGroup {
    /// Proactive refresh: every participant gets new shares of the same group key.
    ///
    /// The order keeps a signing group at every moment: (1) the new verifying shares are recorded as a
    /// pending refresh in every store's record; (2) each participant's new key package is stored as a
    /// new version next to the old one; (3) a test signature by every participant, loading the new
    /// versions back from the stores, confirms them; (4) the records move to the new epoch; (5) only
    /// then are the old versions destroyed. A run interrupted before (4) leaves the old shares in force
    /// and the next call finishes it (all new versions stored) or rolls it back (some missing) before
    /// refreshing; a run interrupted after (4) leaves the new shares in force and the next call erases
    /// what is left of the old ones. See ``recover()`` and docs/frost.md, "Refresh recovery", for every
    /// point a run can be killed at.
    public func refresh() async throws -> RefreshReport {
        try await FROSTAudit.record(AuditEvent(.frostRefresh, details: ["frost.group": name]), in: distinctStores) { event in
            let report = try await refreshGroup()
            event.details["frost.epoch"] = "\(report.epoch)"
            event.details["frost.resumed"] = "\(report.resumedInterrupted)"
            event.details["frost.rolledBack"] = "\(report.rolledBackInterrupted)"
            event.details["share.erasedVersions"] = "\(report.erasedVersions)"
            return report
        }
    }

    private func refreshGroup() async throws -> RefreshReport {
        let recovery = try await recover()
        if recovery.resumed {
            return RefreshReport(epoch: recovery.record.epoch, resumedInterrupted: true, rolledBackInterrupted: false, erasedVersions: recovery.erased)
        }
        let record = recovery.record
        let group = try record.publicKeyPackage()
        if let gone = record.members.first(where: \.erased) {
            throw FROSTError(.shareGone, "participant \(gone.identifier)'s key share of group '\(name)' was erased; a refresh needs every participant")
        }

        // Round one and two of the refresh, every participant in this process.
        var keys: [KeyPackage] = []
        for member in record.members { keys.append(try await loadKeyPackage(member.identifier, record: record)) }
        let session = try SessionID.random()
        let contributions = try keys.map { try Refresh.round1(identifier: $0.identifier, group: group, session: session) }
        let packages = contributions.map(\.0)
        let shares = contributions.flatMap(\.1)
        var fresh: [KeyPackage] = []
        var newGroup: PublicKeyPackage?
        for key in keys {
            let (newKey, publicPackage) = try Refresh.finalize(key, group: group, packages: packages, shares: shares.filter { $0.recipient == key.identifier })
            guard newGroup == nil || newGroup == publicPackage else {
                throw FROSTError(.invalidPackage, "participants derived different verifying shares in the refresh")
            }
            newGroup = publicPackage
            fresh.append(newKey)
        }
        keys.removeAll()
        let target = record.epoch + 1

        // (1) Record the pending refresh everywhere.
        var pendingRecord = record
        pendingRecord.pendingRefresh = GroupRecord.PendingRefresh(
            epoch: target,
            verifyingShares: Dictionary(uniqueKeysWithValues: try fresh.map { ("\($0.identifier)", Hex.encode(try $0.verifyingShare.serialize())) }),
            started: ISO8601DateFormatter().string(from: Date()))
        try await writeRecords(pendingRecord, .pending, to: Array(distinctStores.enumerated()))

        // (2) Store the new versions.
        var versions: [ParticipantID: UInt64] = [:]
        for key in fresh {
            try await reach(.storingKeyPackage(key.identifier))
            versions[key.identifier] = try await store(key.identifier).store(
                try shareID(key.identifier), key.serialized(), metadata: metadata(key.identifier, epoch: target))
            try await reach(.storedKeyPackage(key.identifier))
        }
        fresh.removeAll()

        // (3)–(5).
        let next = try advanced(record, pending: pendingRecord.pendingRefresh!, versions: versions)
        let erased = try await confirmCommitAndErase(next)
        logger.notice("refreshed FROST shares", metadata: ["frost.epoch": "\(target)", "share.erased": "\(erased)"])
        return RefreshReport(epoch: target, resumedInterrupted: false, rolledBackInterrupted: recovery.rolledBack, erasedVersions: erased)
    }

    /// Writes `record` to each of `stores` (index among ``distinctStores``, store), one store at a time.
    func writeRecords(_ record: GroupRecord, _ purpose: RefreshStep.RecordWrite, to stores: [(offset: Int, element: ShareStore)]) async throws {
        for (index, store) in stores {
            try await reach(.writingRecord(purpose, store: index))
            try await writeRecord(record, to: store)
            try await reach(.wroteRecord(purpose, store: index))
        }
    }

    /// The record at the pending epoch with the given versions.
    func advanced(_ record: GroupRecord, pending: GroupRecord.PendingRefresh, versions: [ParticipantID: UInt64]) throws -> GroupRecord {
        var next = record
        next.epoch = pending.epoch
        next.pendingRefresh = nil
        for index in next.members.indices {
            let id = next.members[index].identifier
            guard let share = pending.verifyingShares["\(id)"], let version = versions[id] else {
                throw FROSTError(.groupState, "the pending refresh of group '\(name)' lacks participant \(id)")
            }
            next.members[index].verifyingShare = share
            next.members[index].version = version
        }
        return next
    }

    /// (3) test signature by every participant from the stored new versions, (4) commit the record,
    /// (5) destroy the old versions. Returns how many versions were destroyed.
    func confirmCommitAndErase(_ next: GroupRecord) async throws -> Int {
        try await reach(.testSigning)
        try await confirm(next)
        try await reach(.testSigned)
        try await writeRecords(next, .commit, to: Array(distinctStores.enumerated()))
        return try await eraseSuperseded(next)
    }

    /// Signs a test message with every participant's key package as `record` names them.
    func confirm(_ record: GroupRecord) async throws {
        let group = try record.publicKeyPackage()
        var sessions: [(KeyPackage, SigningNonces)] = []
        for member in record.members {
            let key = try await loadKeyPackage(member.identifier, record: record)
            sessions.append((key, try FROST.commit(key)))
        }
        let message = Array("strongroom refresh confirmation: group \(name) epoch \(record.epoch)".utf8)
        let coordinator = try FROSTCoordinator(group: name, publicKeys: group)
        let package = try coordinator.signingPackage(message: message, commitments: sessions.map(\.1.commitments))
        let shares = try sessions.map { try FROST.sign(package, nonces: $0.1, keyPackage: $0.0) }
        do {
            _ = try coordinator.aggregate(package, shares: shares, verification: .always)
        } catch let error as FROSTError {
            throw FROSTError(.refreshIncomplete, "the refreshed shares failed their test signature (\(error.reason)); the old shares stay in force", culprits: error.culprits)
        }
    }

    /// Destroys every version of each participant's share older than the one `record` names, one
    /// version at a time. Versions whose blobs no longer open (a destroy that was interrupted after
    /// overwriting one) are listed by their number like the others and destroyed too.
    func eraseSuperseded(_ record: GroupRecord) async throws -> Int {
        var erased = 0
        for member in record.members where !member.erased {
            erased += try await destroyVersions(of: member.identifier) { $0 < member.version }
        }
        return erased
    }

    /// Destroys the versions of participant `id`'s share that `doomed` picks, one at a time.
    func destroyVersions(of id: ParticipantID, where doomed: (UInt64) -> Bool) async throws -> Int {
        let store = try store(id)
        let share = try shareID(id)
        var erased = 0
        for version in try await store.versions(share).map(\.version) where doomed(version) {
            try await reach(.destroying(id, version: version))
            erased += try await store.erase(share, versions: [version])
            try await reach(.destroyed(id, version: version))
        }
        return erased
    }

    /// The version of `member`'s share that holds its key package of a pending refresh: the newest
    /// version above the recorded one whose metadata names the pending epoch and whose key package
    /// opens and matches the pending verifying share and the group key. Nil when there is none (not
    /// stored yet, or already destroyed by a rollback, or left unreadable by an interrupted destroy).
    func storedNewVersion(_ member: GroupRecord.Member, pending: GroupRecord.PendingRefresh, groupKey: String) async throws -> UInt64? {
        guard let expected = pending.verifyingShares["\(member.identifier)"] else { return nil }
        let store = try store(member.identifier)
        let share = try shareID(member.identifier)
        let infos: [ShareVersionInfo]
        do {
            infos = try await store.versions(share)
        } catch let error as StrongroomError where error.code == .shareNotFound {
            return nil
        }
        let candidates = infos.filter {
            $0.version > member.version && $0.problem == nil && $0.metadata["frost.epoch"] == "\(pending.epoch)"
        }
        for candidate in candidates.reversed() {
            let key: KeyPackage
            do {
                key = try KeyPackage(deserializing: try await store.load(share, version: candidate.version), authenticated: true)
            } catch let error as StrongroomError where error.code == .integrityCheckFailed || error.code == .shareNotFound {
                logger.warning(
                    "a new key package of an interrupted refresh does not open; not using it",
                    metadata: ["frost.participant": "\(member.identifier)", "share.version": "\(candidate.version)", "reason": "\(error.reason)"])
                continue
            } catch let error as FROSTError {
                logger.warning(
                    "a new key package of an interrupted refresh is malformed; not using it",
                    metadata: ["frost.participant": "\(member.identifier)", "share.version": "\(candidate.version)", "reason": "\(error.reason)"])
                continue
            }
            if key.identifier == member.identifier, key.epoch == pending.epoch, Hex.encode(try key.groupKey.serialize()) == groupKey,
                Hex.encode(try key.verifyingShare.serialize()) == expected
            {
                return candidate.version
            }
        }
        return nil
    }

    /// Brings every store's record to one consistent state, finishing or rolling back an interrupted
    /// refresh. Returns that record. Every step is idempotent, so a recovery that is itself stopped
    /// is finished by the next one (docs/frost.md, "Refresh recovery"):
    ///
    /// - some records are at an older epoch than the newest, which has no pending refresh (stopped
    ///   during step 4): the newest is written to the other stores, old versions are destroyed;
    /// - a pending refresh to the next epoch and every participant's new key package stored (stopped
    ///   after step 2, before step 4): steps 3 to 5 are run with them;
    /// - a pending refresh with some new key package missing (stopped during or before step 2, or
    ///   during a rollback): every version above the recorded one is destroyed, then the pending
    ///   refresh is cleared;
    /// - otherwise (stopped during step 5, or after it): a stale pending refresh is cleared and
    ///   versions older than the recorded ones are destroyed.
    ///
    /// Each outcome is final: once a store is committed no rollback can follow, and once a rollback
    /// has destroyed a new key package no resume can follow.
    func recover() async throws -> (record: GroupRecord, resumed: Bool, rolledBack: Bool, erased: Int) {
        var records: [(offset: Int, element: ShareStore, record: GroupRecord)] = []
        for (index, store) in distinctStores.enumerated() {
            if let record = try await readRecord(store) { records.append((index, store, record)) }
        }
        guard let committed = records.map(\.record).max(by: { $0.epoch < $1.epoch }) else {
            throw FROSTError(.groupState, "no group '\(name)' in any participant's store; run `strongroom frost keygen` first")
        }
        var clean = committed
        clean.pendingRefresh = nil
        let behind = records.filter { $0.record != clean }.map { (offset: $0.offset, element: $0.element) }

        // A refresh that reached step (4) in some store: the new epoch is in force; finish (4) and (5).
        if committed.pendingRefresh == nil && records.contains(where: { $0.record.epoch < committed.epoch }) {
            try await writeRecords(clean, .commit, to: behind)
            let erased = try await eraseSuperseded(clean)
            logger.notice("finished an interrupted refresh (records committed, old versions erased)", metadata: ["frost.epoch": "\(clean.epoch)"])
            return (clean, true, false, erased)
        }

        // A refresh that stopped before (4): find the new versions by their epoch and verifying shares.
        if let pending = records.compactMap(\.record.pendingRefresh).first(where: { $0.epoch == committed.epoch + 1 }) {
            var found: [ParticipantID: UInt64] = [:]
            for member in clean.members where !member.erased {
                if let version = try await storedNewVersion(member, pending: pending, groupKey: clean.groupKey) {
                    found[member.identifier] = version
                }
            }
            if found.count == clean.members.count {
                let next = try advanced(clean, pending: pending, versions: found)
                let erased = try await confirmCommitAndErase(next)
                logger.notice("finished an interrupted refresh", metadata: ["frost.epoch": "\(next.epoch)"])
                return (next, true, false, erased)
            }
            // Not every new share was stored: the old ones are in force. Destroy every version above
            // the recorded one (the new key packages that were stored, and any a stopped rollback left
            // behind), then clear the pending refresh.
            var dropped = 0
            for member in clean.members where !member.erased {
                dropped += try await destroyVersions(of: member.identifier) { $0 > member.version }
            }
            try await writeRecords(clean, .clear, to: behind)
            logger.notice("rolled back an interrupted refresh", metadata: ["frost.epoch": "\(clean.epoch)", "share.dropped": "\(dropped)"])
            return (clean, false, true, 0)
        }

        try await writeRecords(clean, .clear, to: behind)
        // A refresh that stopped during (5): the records are committed but old versions remain.
        let erased = try await eraseSuperseded(clean)
        if erased > 0 {
            logger.notice("finished an interrupted refresh (old versions erased)", metadata: ["frost.epoch": "\(clean.epoch)", "share.erased": "\(erased)"])
        }
        return (clean, erased > 0, false, erased)
    }
}
