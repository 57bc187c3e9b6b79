import Foundation
import SecureCrypto
import StrongroomCore

/// What `strongroom frost info` shows: the group's public state.
public struct GroupSummary: Sendable {
    /// One participant.
    public struct Member: Sendable {
        public let identifier: ParticipantID
        public let tier: String
        public let shareID: String
        public let version: UInt64
        public let erased: Bool
        public let verifyingShare: String
    }
    public let name: String
    public let suite: Ciphersuite
    public let minSigners: UInt16
    public let maxSigners: UInt16
    public let groupKey: String
    public let epoch: UInt32
    public let members: [Member]
    /// The epoch of a refresh that did not finish, if any: a pending refresh recorded before its new
    /// shares were committed, or the current epoch while some store's record still names the one
    /// before. `strongroom frost refresh` finishes or rolls it back.
    public let pendingRefreshEpoch: UInt32?
}

extension FROSTGroup {
    /// The group's public state, from the newest record among the stores.
    public func summary() async throws -> GroupSummary {
        var records: [GroupRecord] = []
        for store in distinctStores { if let record = try await readRecord(store) { records.append(record) } }
        guard let record = records.max(by: { $0.epoch < $1.epoch }) else {
            throw FROSTError(.groupState, "no group '\(name)' in any participant's store")
        }
        // A refresh is unfinished while a record carries a pending refresh to a newer epoch, or while
        // some store's record has not been moved to the newest epoch yet.
        let lagging = records.contains { $0.epoch < record.epoch }
        let pending = records.compactMap(\.pendingRefresh).map(\.epoch).filter { $0 > record.epoch }.max() ?? (lagging ? record.epoch : nil)
        return GroupSummary(
            name: name, suite: try record.suite, minSigners: record.minSigners, maxSigners: record.maxSigners, groupKey: record.groupKey,
            epoch: record.epoch,
            members: record.members.map {
                GroupSummary.Member(identifier: $0.identifier, tier: $0.tier, shareID: $0.shareID, version: $0.version, erased: $0.erased, verifyingShare: $0.verifyingShare)
            },
            pendingRefreshEpoch: pending)
    }
}
