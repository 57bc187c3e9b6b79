import Foundation
import Logging
import SecureCrypto
import StrongroomCore

extension FROSTGroup {
    /// The participant identifiers of group `name` as recorded in `store`. With
    /// `allowingUnauthenticated`, a clear-text record of an earlier version is read too (only to know
    /// which stores to open for ``upgradeRecords()``, which checks it).
    public static func members(ofGroup name: String, in store: ShareStore, allowingUnauthenticated: Bool = false) async throws -> [ParticipantID] {
        let record = try FROSTGroup.recordName(name)
        var bytes = try await store.readRecord(record)
        if bytes == nil, let clear = try await store.readUnauthenticatedRecord(record) {
            guard allowingUnauthenticated else { throw unauthenticatedRecord(name, in: store) }
            bytes = clear
        }
        guard let bytes else {
            throw FROSTError(.groupState, "no group '\(name)' in \(store.tier) vault \(store.vaultID); run `strongroom frost keygen` first")
        }
        return try GroupRecord.decode(bytes, location: "\(store.tier) vault \(store.vaultID)").members.map(\.identifier)
    }

    /// Seals the clear-text group records (`records/frost.<group>.json`) that Strongroom wrote before
    /// records were sealed, once each has been checked against the participants' sealed key packages:
    /// the members must be 1...n with their own share ids and tiers, and every member not marked erased
    /// must have, at the version the record names, a key package whose identifier, ciphersuite,
    /// threshold, epoch, group key and verifying share are the record's. A record that fails is left
    /// as it is and reported as an integrity failure. Stores whose record is already sealed are left
    /// alone. Returns how many stores' records were sealed now. See docs/frost.md, "Migration".
    public func upgradeRecords() async throws -> Int {
        let recordName = try FROSTGroup.recordName(name)
        var upgraded = 0
        var found = 0
        for store in distinctStores {
            if try await store.readRecord(recordName) != nil {
                found += 1
                continue
            }
            guard let bytes = try await store.readUnauthenticatedRecord(recordName) else { continue }
            found += 1
            let record = try GroupRecord.decode(bytes, location: "\(store.tier) vault \(store.vaultID)")
            guard record.group == name else {
                throw FROSTGroup.notAnchored(name, store, "it names group '\(record.group)'")
            }
            try await anchor(record, in: store)
            try await writeRecord(record, to: store)
            logger.notice(
                "sealed a clear-text group record after checking it against the key packages",
                metadata: ["vault.id": "\(store.vaultID)", "frost.epoch": "\(record.epoch)"])
            upgraded += 1
        }
        guard found > 0 else {
            throw FROSTError(.groupState, "no group '\(name)' in any participant's store; nothing to upgrade")
        }
        return upgraded
    }

    /// Checks a clear-text record against the sealed key packages (see ``upgradeRecords()``).
    func anchor(_ record: GroupRecord, in store: ShareStore) async throws {
        let suite: Ciphersuite
        do {
            suite = try record.suite
            _ = try record.publicKeyPackage()
        } catch {
            throw FROSTGroup.notAnchored(name, store, "its keys or threshold are not valid (\(error))")
        }
        guard record.maxSigners >= 1, record.members.map(\.identifier) == Array(1...record.maxSigners) else {
            throw FROSTGroup.notAnchored(name, store, "its members are not 1...\(record.maxSigners)")
        }
        // `erase` destroys the key package before it marks the member, so a member marked erased
        // whose key package is still stored was marked by someone else.
        for member in record.members where member.erased {
            if (try? await self.store(member.identifier).versions(try shareID(member.identifier)))?.isEmpty == false {
                throw FROSTGroup.notAnchored(name, store, "participant \(member.identifier) is marked erased but its key package is still stored")
            }
        }
        var anchored = 0
        for member in record.members where !member.erased {
            let participantStore = try self.store(member.identifier)
            guard member.shareID == (try shareID(member.identifier)).rawValue, member.tier == participantStore.tier.rawValue else {
                throw FROSTGroup.notAnchored(name, store, "participant \(member.identifier)'s share id or tier is not its own")
            }
            let key: KeyPackage
            do {
                key = try await loadKeyPackage(member.identifier, record: record)
            } catch let error as FROSTError where error.code == .groupState {
                throw FROSTGroup.notAnchored(name, store, "participant \(member.identifier)'s sealed key package does not match it")
            }
            guard key.suite == suite, key.minSigners == record.minSigners, key.maxSigners == record.maxSigners else {
                throw FROSTGroup.notAnchored(name, store, "participant \(member.identifier)'s sealed key package has another ciphersuite or threshold")
            }
            anchored += 1
        }
        guard anchored > 0 else {
            throw FROSTGroup.notAnchored(name, store, "every member is marked erased, so no key package can confirm it")
        }
    }

    static func notAnchored(_ group: String, _ store: ShareStore, _ why: String) -> StrongroomError {
        StrongroomError(
            .integrityCheckFailed,
            "group '\(group)''s clear-text record in \(store.tier) vault \(store.vaultID) was not upgraded: \(why); it was altered, or does not belong to these vaults. It is left as it is and not used")
    }
}
