import Foundation
import Logging
import SecureCrypto
import StrongroomCore

extension FROSTParticipant {
    // MARK: Share repair (docs/frost.md, "Repairing a lost share")

    /// Repair step one, as a helper of the repair of participant `lost` by `helpers` (this participant
    /// among them, at least the threshold) in the run `session`: λ_i(r)·s_i split into one random part
    /// per helper. Returns the public broadcast (``FROSTMessage/Kind/repairCommitments``) and one
    /// secret part per helper, itself included (``FROSTMessage/Kind/repairPart``), to be sealed to each
    /// helper's channel key (``channelKey(session:suite:)``).
    public func repairHelp(session: SessionID, lost: ParticipantID, helpers: [ParticipantID]) async throws -> (commitments: [UInt8], parts: [SecretBytes]) {
        let record = try await record()
        let group = try record.publicKeyPackage()
        let key = try await loadKeyPackage(record: record)
        let (commitments, parts) = try Repair.step1(key, group: group, target: lost, helpers: helpers, session: session)
        let encoded = try parts.map { try FROSTMessage.encode($0) }
        logger.info("repair step one", metadata: ["frost.session": "\(session)", "frost.repair.target": "\(lost)"])
        return (try FROSTMessage.encode(commitments, suite: group.suite), encoded)
    }

    /// Repair step two, as a helper: checks every helper's broadcast and the parts sent to this
    /// participant (each against its sender's broadcast; a wrong one is refused naming its sender) and
    /// returns the sum of the parts for the repaired participant (``FROSTMessage/Kind/repairSum``, secret,
    /// to be sealed to its channel key). Erases this participant's channel key.
    public func repairCombine(commitments: [[UInt8]], parts: [SecretBytes]) async throws -> SecretBytes {
        let group = try await publicKeyPackage()
        let decoded = try commitments.map { try FROSTMessage.decodeRepairCommitments($0, suite: group.suite) }
        let decodedParts = try parts.map { try FROSTMessage.decodeRepairPart($0, suite: group.suite) }
        let sum = try Repair.step2(identifier: identifier, group: group, commitments: decoded, parts: decodedParts)
        let encoded = try FROSTMessage.encode(sum)
        try await eraseChannelKey()
        logger.info("repair step two", metadata: ["frost.session": "\(sum.session)", "frost.repair.target": "\(sum.recipient)"])
        return encoded
    }

    /// Repair step three, as the participant whose share was lost: checks the helpers' broadcasts and
    /// sums, adds the sums into its signing share and checks it against its verifying share in the
    /// group's public data (its own record, or `publicKeys` when its store has no record of the group
    /// any more), then stores its key package as a new version, writes its record (no longer erased)
    /// and erases its channel key. Nothing is stored when a check fails. Returns the new version.
    @discardableResult
    public func repairFinish(commitments: [[UInt8]], sums: [SecretBytes], publicKeys: PublicKeyPackage? = nil) async throws -> UInt64 {
        let event = AuditEvent(
            .frostRepair, shareID: try? shareID,
            details: ["frost.group": group, "frost.participant": "\(identifier)", "frost.helperCount": "\(commitments.count)"])
        return try await FROSTAudit.record(event, in: [store]) { event in
            let version = try await finishRepair(commitments: commitments, sums: sums, publicKeys: publicKeys)
            event.versions = [version]
            return version
        }
    }

    private func finishRepair(commitments: [[UInt8]], sums: [SecretBytes], publicKeys: PublicKeyPackage?) async throws -> UInt64 {
        let existing = try await GroupRecord.read(group: group, from: store)
        let key = try await repairedKeyPackage(record: existing, publicKeys: publicKeys, commitments: commitments, sums: sums)
        let version = try await store.store(try shareID, try key.serialized(), metadata: metadata(epoch: key.epoch))
        var record: GroupRecord
        if let existing {
            record = existing
            let index = record.members.firstIndex { $0.identifier == identifier }!
            record.members[index].version = version
            record.members[index].tier = store.tier.rawValue
            record.members[index].erased = false
        } else {
            record = try GroupRecord(group: group, publicKeys: publicKeys!, own: identifier, version: version, tier: store.tier.rawValue)
        }
        try await store.writeRecord(try FROSTGroup.recordName(group), try record.encoded())
        try await eraseChannelKey()
        logger.notice("repaired key package stored", metadata: ["share.version": "\(version)", "frost.epoch": "\(key.epoch)"])
        return version
    }

    /// The checked key package of step three, not stored. `record` is its store's record of the group
    /// (nil when there is none; then `publicKeys` must be given); with both, they must agree.
    func repairedKeyPackage(
        record: GroupRecord?, publicKeys: PublicKeyPackage?, commitments: [[UInt8]], sums: [SecretBytes]
    ) async throws -> KeyPackage {
        let group: PublicKeyPackage
        switch (record, publicKeys) {
        case (nil, nil):
            throw FROSTError(
                .groupState, "participant \(identifier)'s \(location) has no record of group '\(self.group)'; give the group's public key package to check the repaired share against")
        case (let record?, let given):
            group = try record.publicKeyPackage()
            if let given, given != group {
                throw FROSTError(.groupState, "the public key package given for group '\(self.group)' differs from participant \(identifier)'s own record of it")
            }
            if record.pendingRefresh != nil {
                throw FROSTError(.refreshIncomplete, "group '\(self.group)' has an unfinished refresh; finish it before repairing a share")
            }
            if (try? await loadKeyPackage(record: record)) != nil {
                throw FROSTError(.invalidInput, "participant \(identifier)'s key share of group '\(self.group)' is intact in its \(location); there is nothing to repair")
            }
        case (nil, let given?):
            group = given
            if (try? await store.versions(try shareID))?.isEmpty == false {
                throw FROSTError(.groupState, "participant \(identifier)'s \(location) holds key packages of group '\(self.group)' but no record; nothing repaired")
            }
        }
        let decoded = try commitments.map { try FROSTMessage.decodeRepairCommitments($0, suite: group.suite) }
        let decodedSums = try sums.map { try FROSTMessage.decodeRepairSum($0, suite: group.suite) }
        return try Repair.finish(identifier: identifier, group: group, commitments: decoded, sums: decodedSums)
    }

    /// Erases its channel key pair, if it has one.
    func eraseChannelKey() async throws {
        if (try? await store.versions(try channelShareID))?.isEmpty == false { _ = try await store.erase(try channelShareID) }
    }
}
