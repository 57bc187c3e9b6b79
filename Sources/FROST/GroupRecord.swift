import Foundation
import SecureCrypto
import StrongroomCore

/// The group's public data as kept next to the shares, in each participant's store
/// (`records/frost.<group>.json`, see docs/frost.md). JSON, format 1.
struct GroupRecord: Codable, Sendable, Equatable {
    struct Member: Codable, Sendable, Equatable {
        /// The participant.
        var identifier: ParticipantID
        /// Its verifying share, hex.
        var verifyingShare: String
        /// The share id of its key package in its store.
        var shareID: String
        /// The store version holding the key package of `epoch`.
        var version: UInt64
        /// The tier of its store.
        var tier: String
        /// True once its key share was erased.
        var erased: Bool
    }

    struct PendingRefresh: Codable, Sendable, Equatable {
        /// The epoch the refresh moves to.
        var epoch: UInt32
        /// The verifying shares of that epoch, hex, by identifier.
        var verifyingShares: [String: String]
        /// When it began (ISO 8601).
        var started: String
    }

    var format: Int
    var group: String
    var ciphersuite: String
    var minSigners: UInt16
    var maxSigners: UInt16
    var groupKey: String
    var epoch: UInt32
    var members: [Member]
    var pendingRefresh: PendingRefresh?

    static let currentFormat = 1

    var suite: Ciphersuite {
        get throws {
            guard let suite = Ciphersuite(name: ciphersuite) else {
                throw FROSTError(.groupState, "group '\(group)' names an unknown ciphersuite '\(ciphersuite)'")
            }
            return suite
        }
    }

    func member(_ id: ParticipantID) throws -> Member {
        guard let member = members.first(where: { $0.identifier == id }) else {
            throw FROSTError(.invalidInput, "group '\(group)' has no participant \(id) (participants: \(members.map(\.identifier)))")
        }
        return member
    }

    func publicKeyPackage() throws -> PublicKeyPackage {
        let suite = try suite
        var shares: [ParticipantID: Element] = [:]
        for member in members {
            shares[member.identifier] = try Element.deserialize(GroupRecord.unhex(member.verifyingShare, what: "verifying share"), suite)
        }
        return try PublicKeyPackage(
            suite: suite, groupKey: Element.deserialize(GroupRecord.unhex(groupKey, what: "group key"), suite),
            verifyingShares: shares, minSigners: minSigners, maxSigners: maxSigners, epoch: epoch)
    }

    static func unhex(_ text: String, what: String) throws -> [UInt8] {
        guard let bytes = Hex.decode(text) else { throw FROSTError(.groupState, "the group record's \(what) is not hex") }
        return bytes
    }

    func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array(try encoder.encode(self))
    }

    static func decode(_ bytes: [UInt8], location: String) throws -> GroupRecord {
        let record: GroupRecord
        do {
            record = try JSONDecoder().decode(GroupRecord.self, from: Data(bytes))
        } catch {
            throw FROSTError(.groupState, "the group record in \(location) is not valid JSON of format \(currentFormat)")
        }
        guard record.format == currentFormat else {
            throw FROSTError(.groupState, "the group record in \(location) has format \(record.format); this build reads format \(currentFormat)")
        }
        return record
    }
}

extension GroupRecord {
    /// The record `store` holds for `group`, authenticated by the store's tier, or nil when there is
    /// none. A clear-text record of an earlier version standing alone is an integrity failure.
    static func read(group: String, from store: ShareStore) async throws -> GroupRecord? {
        let recordName = try FROSTGroup.recordName(group)
        guard let bytes = try await store.readRecord(recordName) else {
            if try await store.readUnauthenticatedRecord(recordName) != nil {
                throw FROSTGroup.unauthenticatedRecord(group, in: store)
            }
            return nil
        }
        let record = try GroupRecord.decode(bytes, location: "\(store.tier) vault \(store.vaultID)")
        guard record.group == group else {
            throw FROSTError(.groupState, "the record for group '\(group)' in \(store.tier) vault \(store.vaultID) names group '\(record.group)'")
        }
        return record
    }

    /// A participant's record of `publicKeys`: its own member with its version and tier, the others
    /// kept elsewhere (tier `remote`). With `base`, the others' erased flags are kept.
    init(group: String, publicKeys: PublicKeyPackage, own: ParticipantID, version: UInt64, tier: String, base: GroupRecord? = nil) throws {
        let members = try publicKeys.participants.map { id in
            Member(
                identifier: id, verifyingShare: Hex.encode(try publicKeys.verifyingShares[id]!.serialize()), shareID: "frost.\(group).p\(id)",
                version: id == own ? version : 0, tier: id == own ? tier : FROSTParticipant.remoteTier,
                erased: base.flatMap { try? $0.member(id).erased } ?? false)
        }
        self.init(
            format: GroupRecord.currentFormat, group: group, ciphersuite: publicKeys.suite.shortName, minSigners: publicKeys.minSigners,
            maxSigners: publicKeys.maxSigners, groupKey: Hex.encode(try publicKeys.groupKey.serialize()), epoch: publicKeys.epoch,
            members: members, pendingRefresh: nil)
    }
}
