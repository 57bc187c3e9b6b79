import Foundation
import Logging
import SecureCrypto
import StrongroomCore

/// The outcome of a share repair.
public struct RepairReport: Sendable, Hashable {
    /// The participant whose share was repaired.
    public let participant: ParticipantID
    /// The helpers, ascending.
    public let helpers: [ParticipantID]
    /// The store version that holds the repaired key package.
    public let version: UInt64
    /// The epoch of the repaired share (the group's current one).
    public let epoch: UInt32
}

extension FROSTGroup {
    /// Repairs participant `lost`'s key share, lost or erased, with `helpers` (at least the threshold,
    /// `lost` not among them): every party runs its side through its ``FROSTParticipant`` and every
    /// secret message travels sealed to its recipient's channel key (``FROSTChannel``), as between
    /// processes. The repaired share is checked against `lost`'s verifying share before it is stored
    /// as a new version; then every store's record names that version and no longer marks it erased.
    /// The group key, the verifying shares and the epoch do not change. See docs/frost.md,
    /// "Repairing a lost share".
    @discardableResult
    public func repair(_ lost: ParticipantID, helpers: [ParticipantID]) async throws -> RepairReport {
        let event = AuditEvent(
            .frostRepair, shareID: try? shareID(lost),
            details: ["frost.group": name, "frost.participant": "\(lost)", "frost.helpers": FROSTAudit.list(helpers)])
        return try await FROSTAudit.record(event, in: distinctStores) { event in
            let report = try await repairShare(lost, helpers: helpers)
            event.versions = [report.version]
            event.details["frost.epoch"] = "\(report.epoch)"
            return report
        }
    }

    private func repairShare(_ lost: ParticipantID, helpers: [ParticipantID]) async throws -> RepairReport {
        let record = try await currentRecord()
        if record.pendingRefresh != nil {
            throw FROSTError(.refreshIncomplete, "group '\(name)' has an unfinished refresh; run `strongroom frost refresh --group \(name)` before repairing a share")
        }
        let group = try publicKeys(record)
        let helpers = try Repair.checkHelpers(helpers, target: lost, group: group)
        for helper in helpers {
            guard try record.member(helper).erased else { continue }
            throw FROSTError(.shareGone, "helper \(helper)'s key share of group '\(name)' was erased; pick helpers that still hold their shares")
        }
        let target = try participant(lost)
        if (try? await loadKeyPackage(lost, record: record)) != nil {
            throw FROSTError(.invalidInput, "participant \(lost)'s key share of group '\(name)' is intact; there is nothing to repair")
        }
        let parties = helpers + [lost]
        let session = try SessionID.random()
        do {
            // Every party publishes a channel key for the run.
            var channelKeys: [ParticipantID: [UInt8]] = [:]
            for id in parties {
                let message = try await participant(id).channelKey(session: session, suite: group.suite)
                channelKeys[id] = try FROSTChannel.decodeKeyMessage(message, suite: group.suite).key
            }
            // Step one: each helper's broadcast, and its parts sealed to each helper.
            var commitments: [[UInt8]] = []
            var sealedParts: [ParticipantID: [[UInt8]]] = [:]
            for helper in helpers {
                let (broadcast, parts) = try await participant(helper).repairHelp(session: session, lost: lost, helpers: helpers)
                commitments.append(broadcast)
                for part in parts {
                    let recipient = try FROSTMessage.header(ofSecret: part).recipient
                    sealedParts[recipient, default: []].append(try FROSTChannel.seal(part, to: channelKeys[recipient]!))
                }
            }
            // Step two: each helper opens its parts and seals its sum to the lost participant.
            var sealedSums: [[UInt8]] = []
            for helper in helpers {
                let party = try participant(helper)
                var parts: [SecretBytes] = []
                for sealed in sealedParts[helper] ?? [] { parts.append(try await party.open(sealed: sealed)) }
                let sum = try await party.repairCombine(commitments: commitments, parts: parts)
                sealedSums.append(try FROSTChannel.seal(sum, to: channelKeys[lost]!))
            }
            sealedParts.removeAll()
            // Step three: the lost participant checks and stores its share; every record names it.
            var sums: [SecretBytes] = []
            for sealed in sealedSums { sums.append(try await target.open(sealed: sealed)) }
            let key = try await target.repairedKeyPackage(record: record, publicKeys: nil, commitments: commitments, sums: sums)
            sums.removeAll()
            let targetStore = try store(lost)
            let version = try await targetStore.store(try shareID(lost), try key.serialized(), metadata: metadata(lost, epoch: key.epoch))
            var next = record
            let index = next.members.firstIndex { $0.identifier == lost }!
            next.members[index].version = version
            next.members[index].tier = targetStore.tier.rawValue
            next.members[index].erased = false
            for store in distinctStores { try await writeRecord(next, to: store) }
            try await eraseChannelKeys(parties)
            logger.notice("repaired participant's key share", metadata: ["frost.participant": "\(lost)", "frost.helpers": "\(helpers)", "share.version": "\(version)"])
            return RepairReport(participant: lost, helpers: helpers, version: version, epoch: key.epoch)
        } catch {
            try? await eraseChannelKeys(parties)
            throw error
        }
    }

    private func eraseChannelKeys(_ ids: [ParticipantID]) async throws {
        for id in ids { try await participant(id).eraseChannelKey() }
    }
}
