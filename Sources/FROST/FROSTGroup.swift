import Foundation
import Logging
import SecureCrypto
import StrongroomCore
import Synchronization

/// A FROST signing group whose participants keep their key packages in Strongroom stores, each in the
/// store (and so the tier) of its choice, run in one process: it holds one ``FROSTParticipant`` per
/// identifier (which loads its key package), acts as the ``FROSTCoordinator`` (aggregation), and
/// replicates the group's record to every participant's store. For participants in different
/// processes, use ``FROSTParticipant`` and ``FROSTCoordinator`` directly (docs/frost.md, "Roles").
///
/// The engine loads a participant's key package only for round one (nonce derivation) and round two
/// (its signature share), holds it in locked memory and drops it straight after. The group's public
/// data (group key, verifying shares, which store version holds each key package, a refresh in
/// progress) is a record next to the shares in every participant's store.
public final class FROSTGroup: Sendable {
    /// The group's name (share ids are `frost.<name>.p<identifier>`).
    public let name: String
    /// Each participant's store.
    public let stores: [ParticipantID: ShareStore]
    /// Each participant, holding its identifier and its store.
    public let participants: [ParticipantID: FROSTParticipant]
    /// How long a signing session accepts a request (default 30 s).
    public let sessionLifetime: Duration
    let logger: Logger
    /// Called at every step of a refresh and of its recovery; tests stop the run there (nil otherwise).
    let checkpoint: RefreshCheckpoint?
    private let cache = Mutex<[ObjectIdentifier: GroupRecord]>([:])
    /// The last record's public keys, decoded (decoding validates every point: a scalar multiplication
    /// each), so that signing with an unchanged record does not decode them again.
    private let decoded = Mutex<(record: GroupRecord, keys: PublicKeyPackage)?>(nil)

    /// A step of a refresh, or of the recovery of an interrupted one, at which tests stop the run as if
    /// the process had died there (docs/frost.md, "Refresh recovery"). Every write the engine makes
    /// during a refresh has a step before and after it.
    package enum RefreshStep: Sendable, Hashable, CustomStringConvertible {
        /// Why a record is written.
        package enum RecordWrite: String, Sendable, Hashable {
            /// Step 1: the pending refresh.
            case pending
            /// Step 4, or a recovery finishing it: the new epoch.
            case commit
            /// A recovery clearing a rolled-back or stale pending refresh.
            case clear
        }
        /// `store` is the index of the store among the group's distinct stores, in participant order.
        case writingRecord(RecordWrite, store: Int)
        case wroteRecord(RecordWrite, store: Int)
        /// Step 2, one participant's new key package.
        case storingKeyPackage(ParticipantID)
        case storedKeyPackage(ParticipantID)
        /// Step 3.
        case testSigning
        case testSigned
        /// Step 5 (an old version), or a rollback (a new version that was never committed).
        case destroying(ParticipantID, version: UInt64)
        case destroyed(ParticipantID, version: UInt64)

        package var description: String {
            switch self {
            case .writingRecord(let why, let store): "before writing the \(why.rawValue) record to store \(store)"
            case .wroteRecord(let why, let store): "after writing the \(why.rawValue) record to store \(store)"
            case .storingKeyPackage(let id): "before storing participant \(id)'s new key package"
            case .storedKeyPackage(let id): "after storing participant \(id)'s new key package"
            case .testSigning: "before the test signature"
            case .testSigned: "after the test signature"
            case .destroying(let id, let version): "before destroying participant \(id)'s version \(version)"
            case .destroyed(let id, let version): "after destroying participant \(id)'s version \(version)"
            }
        }
    }

    /// A test hook run at every ``RefreshStep``; throwing stops the refresh there.
    package typealias RefreshCheckpoint = @Sendable (RefreshStep) async throws -> Void

    /// The error a test checkpoint throws to stop a refresh.
    package struct SimulatedCrash: Error {}

    func reach(_ step: RefreshStep) async throws {
        if let checkpoint { try await checkpoint(step) }
    }

    /// Opens a group whose participants keep their key packages in `stores`.
    public convenience init(name: String, stores: [ParticipantID: ShareStore], sessionLifetime: Duration = .seconds(30), logger: Logger) throws {
        try self.init(name: name, stores: stores, sessionLifetime: sessionLifetime, logger: logger, checkpoint: nil)
    }

    package init(
        name: String, stores: [ParticipantID: ShareStore], sessionLifetime: Duration = .seconds(30), logger: Logger,
        checkpoint: RefreshCheckpoint?
    ) throws {
        _ = try FROSTGroup.recordName(name)
        guard !stores.isEmpty else { throw FROSTError(.invalidInput, "a group needs at least one participant's store") }
        guard sessionLifetime > .zero else { throw FROSTError(.invalidInput, "the signing session lifetime must be positive") }
        self.name = name
        self.stores = stores
        self.participants = try stores.reduce(into: [:]) { result, entry in
            result[entry.key] = try FROSTParticipant(group: name, identifier: entry.key, store: entry.value, logger: logger)
        }
        self.sessionLifetime = sessionLifetime
        var logger = logger
        logger[metadataKey: "frost.group"] = "\(name)"
        self.logger = logger
        self.checkpoint = checkpoint
    }

    // MARK: Names

    static func recordName(_ group: String) throws -> ShareID {
        guard !group.isEmpty, group.utf8.count <= 64, !group.contains(".") else {
            throw FROSTError(.invalidInput, "group name '\(group.prefix(80))' must be 1 to 64 characters from A-Z a-z 0-9 _ - (no dots)")
        }
        do {
            return try ShareID("frost.\(group)")
        } catch {
            throw FROSTError(.invalidInput, "group name '\(group.prefix(80))' must be 1 to 64 characters from A-Z a-z 0-9 _ - (no dots)")
        }
    }

    /// The share id of participant `id`'s key package.
    public func shareID(_ id: ParticipantID) throws -> ShareID { try ShareID("frost.\(name).p\(id)") }

    func store(_ id: ParticipantID) throws -> ShareStore {
        guard let store = stores[id] else {
            throw FROSTError(.invalidInput, "participant \(id) of group '\(name)' has no store configured")
        }
        return store
    }

    /// Distinct stores, each once, in participant order.
    var distinctStores: [ShareStore] {
        var seen = Set<ObjectIdentifier>()
        return stores.sorted { $0.key < $1.key }.map(\.value).filter { seen.insert(ObjectIdentifier($0)).inserted }
    }

    // MARK: Records

    /// The record `store` holds, authenticated by the store's tier (it is sealed like a share), or nil
    /// when there is none. A record that does not authenticate, and a clear-text record of an earlier
    /// version standing alone, are integrity failures: nothing in them is used.
    func readRecord(_ store: ShareStore) async throws -> GroupRecord? {
        guard let record = try await GroupRecord.read(group: name, from: store) else { return nil }
        cache.withLock { $0[ObjectIdentifier(store)] = record }
        return record
    }

    /// A clear-text `records/frost.<group>.json` without a sealed record: written by Strongroom before
    /// records were sealed, or by anyone who can write the vault.
    static func unauthenticatedRecord(_ group: String, in store: ShareStore) -> StrongroomError {
        StrongroomError(
            .integrityCheckFailed,
            "group '\(group)''s record in \(store.tier) vault \(store.vaultID) is a clear-text record (records/frost.\(group).json) that nothing authenticates, so it is not used. If an earlier Strongroom version made this group, run `strongroom frost upgrade --group \(group)`: it checks the record against every participant's sealed key package and seals it. Otherwise someone wrote it into the vault")
    }

    func writeRecord(_ record: GroupRecord, to store: ShareStore) async throws {
        try await store.writeRecord(FROSTGroup.recordName(name), record.encoded())
        cache.withLock { $0[ObjectIdentifier(store)] = record }
    }

    /// The record a participant's own store holds (cached after the first read).
    func record(for id: ParticipantID, fresh: Bool = false) async throws -> GroupRecord {
        let store = try store(id)
        if !fresh, let cached = cache.withLock({ $0[ObjectIdentifier(store)] }) { return cached }
        guard let record = try await readRecord(store) else {
            throw FROSTError(.groupState, "no group '\(name)' in participant \(id)'s \(store.tier) vault \(store.vaultID); run `strongroom frost keygen` first")
        }
        return record
    }

    /// Every store's record; the newest committed epoch wins.
    func currentRecord() async throws -> GroupRecord {
        var newest: GroupRecord?
        for store in distinctStores {
            if let record = try await readRecord(store), record.epoch > newest?.epoch ?? 0 { newest = record }
        }
        guard let newest else { throw FROSTError(.groupState, "no group '\(name)' in any participant's store; run `strongroom frost keygen` first") }
        return newest
    }

    /// The group's public data (group key, verifying shares, threshold) at its current epoch.
    public func publicKeyPackage() async throws -> PublicKeyPackage { try publicKeys(await currentRecord()) }

    /// `record`'s public key package, decoded once per record.
    func publicKeys(_ record: GroupRecord) throws -> PublicKeyPackage {
        if let last = decoded.withLock({ $0 }), last.record == record { return last.keys }
        let keys = try record.publicKeyPackage()
        decoded.withLock { $0 = (record, keys) }
        return keys
    }

    // MARK: Key generation

    /// How a group's keys are generated.
    public enum KeyGeneration: String, Sendable, CaseIterable {
        /// One dealer (this process) splits a random secret (RFC 9591 Appendix C).
        case trustedDealer = "dealer"
        /// Pedersen DKG with proofs of knowledge: no party ever holds the group secret.
        case distributed = "dkg"
    }

    /// Generates a t-of-n group and stores each participant's key package in its store, with the
    /// group's public record next to it. Participants are 1...n, the keys of `stores`.
    public func create(suite: Ciphersuite, minSigners: UInt16, method: KeyGeneration = .distributed) async throws -> PublicKeyPackage {
        let event = AuditEvent(
            .frostKeygen,
            details: [
                "frost.group": name, "frost.suite": "\(suite.shortName)", "frost.threshold": "\(minSigners)-of-\(stores.count)",
                "frost.keygen": method.rawValue, "frost.participants": FROSTAudit.list(stores.keys.sorted()),
            ])
        return try await FROSTAudit.record(event, in: distinctStores) { _ in
            try await createGroup(suite: suite, minSigners: minSigners, method: method)
        }
    }

    private func createGroup(suite: Ciphersuite, minSigners: UInt16, method: KeyGeneration) async throws -> PublicKeyPackage {
        let maxSigners = UInt16(stores.count)
        guard stores.keys.sorted() == Array(1...maxSigners) else {
            throw FROSTError(.invalidInput, "participants must be numbered 1...\(stores.count)")
        }
        try FROST.checkThreshold(min: minSigners, max: maxSigners)
        for store in distinctStores where try await readRecord(store) != nil {
            throw FROSTError(.groupState, "group '\(name)' already exists in \(store.tier) vault \(store.vaultID); pick another name or erase it first")
        }
        let (keys, group) = try FROSTGroup.generate(suite: suite, minSigners: minSigners, maxSigners: maxSigners, method: method)
        var members: [GroupRecord.Member] = []
        for key in keys {
            let store = try store(key.identifier)
            let version = try await store.store(try shareID(key.identifier), key.serialized(), metadata: metadata(key.identifier, epoch: key.epoch))
            members.append(
                GroupRecord.Member(
                    identifier: key.identifier, verifyingShare: Hex.encode(try key.verifyingShare.serialize()),
                    shareID: try shareID(key.identifier).rawValue, version: version, tier: store.tier.rawValue, erased: false))
        }
        let record = GroupRecord(
            format: GroupRecord.currentFormat, group: name, ciphersuite: suite.shortName, minSigners: minSigners, maxSigners: maxSigners,
            groupKey: Hex.encode(try group.groupKey.serialize()), epoch: 1, members: members, pendingRefresh: nil)
        for store in distinctStores { try await writeRecord(record, to: store) }
        logger.info("created FROST group", metadata: ["frost.suite": "\(suite.shortName)", "frost.threshold": "\(minSigners)-of-\(maxSigners)", "frost.keygen": "\(method.rawValue)"])
        return group
    }

    package static func generate(suite: Ciphersuite, minSigners: UInt16, maxSigners: UInt16, method: KeyGeneration) throws -> ([KeyPackage], PublicKeyPackage) {
        switch method {
        case .trustedDealer:
            let dealt = try FROST.trustedDealerKeygen(suite: suite, minSigners: minSigners, maxSigners: maxSigners)
            return (dealt.keyPackages, dealt.publicKeyPackage)
        case .distributed:
            let session = try SessionID.random()
            let round1 = try (1...maxSigners).map {
                try DKG.round1(identifier: $0, minSigners: minSigners, maxSigners: maxSigners, suite: suite, session: session)
            }
            let broadcasts = round1.map(\.1)
            let shares = try round1.flatMap { try DKG.round2($0.0, received: broadcasts) }
            var keys: [KeyPackage] = []
            var group: PublicKeyPackage?
            for (secret, _) in round1 {
                let (key, publicPackage) = try DKG.finalize(secret, round1: broadcasts, received: shares.filter { $0.recipient == secret.identifier })
                guard group == nil || group == publicPackage else {
                    throw FROSTError(.invalidPackage, "DKG participants derived different group keys")
                }
                group = publicPackage
                keys.append(key)
            }
            return (keys, group!)
        }
    }


    func metadata(_ id: ParticipantID, epoch: UInt32) -> [String: String] {
        ["frost.group": name, "frost.participant": "\(id)", "frost.epoch": "\(epoch)", "frost.format": "\(KeyPackage.formatVersion)"]
    }

}
