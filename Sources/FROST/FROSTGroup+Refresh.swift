import Foundation
import Logging
import SecureCrypto
import Strongroom

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
    /// what is left of the old ones.
    public func refresh() async throws -> RefreshReport {
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
        let contributions = try keys.map { try Refresh.round1(identifier: $0.identifier, group: group) }
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
        for store in distinctStores { try await writeRecord(pendingRecord, to: store) }
        if faults == .afterPendingRecorded { throw SimulatedCrash() }

        // (2) Store the new versions.
        var versions: [ParticipantID: UInt64] = [:]
        for key in fresh {
            versions[key.identifier] = try await store(key.identifier).store(
                try shareID(key.identifier), key.serialized(), metadata: metadata(key.identifier, epoch: target))
        }
        fresh.removeAll()
        if faults == .afterNewVersionsStored { throw SimulatedCrash() }

        // (3)–(5).
        let next = try advanced(record, pending: pendingRecord.pendingRefresh!, versions: versions)
        let erased = try await confirmCommitAndErase(next)
        logger.notice("refreshed FROST shares", metadata: ["frost.epoch": "\(target)", "share.erased": "\(erased)"])
        return RefreshReport(epoch: target, resumedInterrupted: false, rolledBackInterrupted: recovery.rolledBack, erasedVersions: erased)
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
        try await confirm(next)
        for store in distinctStores { try await writeRecord(next, to: store) }
        if faults == .afterCommitted { throw SimulatedCrash() }
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
        let package = try SigningPackage(suite: group.suite, commitments: sessions.map(\.1.commitments), message: message)
        let shares = try sessions.map { try FROST.sign(package, nonces: $0.1, keyPackage: $0.0) }
        do {
            _ = try FROST.aggregate(package, shares: shares, publicKeys: group, verification: .always)
        } catch let error as FROSTError {
            throw FROSTError(.refreshIncomplete, "the refreshed shares failed their test signature (\(error.reason)); the old shares stay in force", culprits: error.culprits)
        }
    }

    /// Destroys every version of each participant's share older than the one `record` names.
    func eraseSuperseded(_ record: GroupRecord) async throws -> Int {
        var erased = 0
        for member in record.members where !member.erased {
            let store = try store(member.identifier)
            let old = try await store.versions(try shareID(member.identifier)).map(\.version).filter { $0 < member.version }
            if !old.isEmpty { erased += try await store.erase(try shareID(member.identifier), versions: old) }
        }
        return erased
    }

    /// Brings every store's record to one consistent state, finishing or rolling back an interrupted
    /// refresh. Returns that record.
    func recover() async throws -> (record: GroupRecord, resumed: Bool, rolledBack: Bool, erased: Int) {
        var records: [(ShareStore, GroupRecord)] = []
        for store in distinctStores {
            if let record = try await readRecord(store) { records.append((store, record)) }
        }
        guard let committed = records.map(\.1).max(by: { $0.epoch < $1.epoch }) else {
            throw FROSTError(.groupState, "no group '\(name)' in any participant's store; run `strongroom frost keygen` first")
        }
        var clean = committed
        clean.pendingRefresh = nil

        // A refresh that reached step (4) in some store: the new epoch is in force; finish (4) and (5).
        if committed.pendingRefresh == nil && records.contains(where: { $0.1.epoch < committed.epoch }) {
            for (store, record) in records where record != clean { try await writeRecord(clean, to: store) }
            let erased = try await eraseSuperseded(clean)
            logger.notice("finished an interrupted refresh (records committed, old versions erased)", metadata: ["frost.epoch": "\(clean.epoch)"])
            return (clean, true, false, erased)
        }

        // A refresh that stopped before (4): find the new versions by their epoch metadata.
        if let pending = records.compactMap(\.1.pendingRefresh).first(where: { $0.epoch == committed.epoch + 1 }) {
            var found: [ParticipantID: UInt64] = [:]
            for member in committed.members where !member.erased {
                let store = try store(member.identifier)
                let infos = (try? await store.versions(try shareID(member.identifier))) ?? []
                if let match = infos.last(where: { $0.metadata["frost.epoch"] == "\(pending.epoch)" && $0.version > member.version }) {
                    found[member.identifier] = match.version
                }
            }
            if found.count == committed.members.count {
                let next = try advanced(committed, pending: pending, versions: found)
                let erased = try await confirmCommitAndErase(next)
                logger.notice("finished an interrupted refresh", metadata: ["frost.epoch": "\(next.epoch)"])
                return (next, true, false, erased)
            }
            // Not every new share was stored: the old ones are in force; drop the partial new ones.
            for (id, version) in found {
                try await store(id).erase(try shareID(id), versions: [version])
            }
            for (store, record) in records where record != clean { try await writeRecord(clean, to: store) }
            logger.notice("rolled back an interrupted refresh", metadata: ["frost.epoch": "\(committed.epoch)", "share.dropped": "\(found.count)"])
            return (clean, false, true, 0)
        }

        for (store, record) in records where record != clean { try await writeRecord(clean, to: store) }
        // A refresh that stopped during (5): the records are committed but old versions remain.
        let erased = try await eraseSuperseded(clean)
        if erased > 0 {
            logger.notice("finished an interrupted refresh (old versions erased)", metadata: ["frost.epoch": "\(clean.epoch)", "share.erased": "\(erased)"])
        }
        return (clean, erased > 0, false, erased)
    }
}
