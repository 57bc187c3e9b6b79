import Foundation
import Logging
import SecureCrypto
import StrongroomCore
import Synchronization

/// One round-one commitment of one participant: the single-use nonces behind it and their deadline.
///
/// A session can be used for one signature share, within its lifetime (default 30 s). Its nonces live
/// in locked memory and are wiped when it is used, when it expires (a timer drops them), or when the
/// session is released.
public final class SigningSession: Sendable {
    /// The participant.
    public let identifier: ParticipantID
    /// The share generation its key package belongs to.
    public let epoch: UInt32
    /// What the participant sends to the coordinator.
    public var commitments: SigningCommitments { nonces.commitments }
    /// When the session stops accepting a signing request.
    public let deadline: ContinuousClock.Instant
    let nonces: SigningNonces

    init(identifier: ParticipantID, epoch: UInt32, nonces: SigningNonces, lifetime: Duration) {
        self.identifier = identifier
        self.epoch = epoch
        self.nonces = nonces
        self.deadline = ContinuousClock.now + lifetime
        Task { [weak nonces] in
            try? await Task.sleep(for: lifetime)
            nonces?.wipe()
        }
    }

    /// True once the session was used, wiped or expired.
    public var isSpent: Bool { nonces.isSpent || ContinuousClock.now >= deadline }

    /// Wipes the nonces now.
    public func wipe() { nonces.wipe() }

    deinit { nonces.wipe() }
}

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

/// A FROST signing group whose participants keep their key packages in Strongroom stores, each in the
/// store (and so the tier) of its choice.
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
        let recordName = try FROSTGroup.recordName(name)
        guard let bytes = try await store.readRecord(recordName) else {
            if try await store.readUnauthenticatedRecord(recordName) != nil {
                throw FROSTGroup.unauthenticatedRecord(name, in: store)
            }
            return nil
        }
        let record = try GroupRecord.decode(bytes, location: "\(store.tier) vault \(store.vaultID)")
        guard record.group == name else {
            throw FROSTError(.groupState, "the record for group '\(name)' in \(store.tier) vault \(store.vaultID) names group '\(record.group)'")
        }
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
            let round1 = try (1...maxSigners).map { try DKG.round1(identifier: $0, minSigners: minSigners, maxSigners: maxSigners, suite: suite) }
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

    // MARK: Loading a key package

    /// Loads participant `id`'s key package of the epoch its store's record names; a share that is gone
    /// is reported as such.
    func loadKeyPackage(_ id: ParticipantID) async throws -> KeyPackage {
        var record = try await record(for: id)
        do {
            return try await loadKeyPackage(id, record: record)
        } catch let error as StrongroomError where error.code == .shareNotFound {
            // Another process may have refreshed (new version) or erased since the record was cached.
            record = try await self.record(for: id, fresh: true)
            return try await loadKeyPackage(id, record: record)
        }
    }

    func loadKeyPackage(_ id: ParticipantID, record: GroupRecord) async throws -> KeyPackage {
        let member = try record.member(id)
        let store = try store(id)
        if member.erased {
            throw FROSTError(.shareGone, "participant \(id)'s key share of group '\(name)' was erased from its \(store.tier) vault; it can no longer sign (the others still can, if at least \(record.minSigners) remain)")
        }
        let bytes: SecretBytes
        do {
            bytes = try await store.load(try shareID(id), version: member.version)
        } catch let error as StrongroomError where error.code == .shareNotFound {
            let any = (try? await store.versions(try shareID(id))) != nil
            if !any {
                throw FROSTError(.shareGone, "participant \(id)'s key share of group '\(name)' is gone from its \(store.tier) vault \(store.vaultID) (no versions of '\(try shareID(id))'); it was erased")
            }
            throw error
        }
        // Opened from an authenticated envelope: skip re-validating the points; compare them with the record.
        let key = try KeyPackage(deserializing: bytes, authenticated: true)
        guard key.identifier == id, key.epoch == record.epoch, Hex.encode(try key.groupKey.serialize()) == record.groupKey,
            Hex.encode(try key.verifyingShare.serialize()) == member.verifyingShare
        else {
            throw FROSTError(.groupState, "participant \(id)'s stored key package (epoch \(key.epoch)) does not match group '\(name)''s record (epoch \(record.epoch))")
        }
        return key
    }

    // MARK: Signing

    /// Round one for participant `id`: loads its key package, derives fresh nonces, and returns a
    /// single-use session holding them. The key package is dropped before this returns.
    public func commit(_ id: ParticipantID) async throws -> SigningSession {
        let key = try await loadKeyPackage(id)
        return SigningSession(identifier: id, epoch: key.epoch, nonces: try FROST.commit(key), lifetime: sessionLifetime)
    }

    /// Round two for a session's participant: loads its key package again and computes its signature
    /// share, consuming the session's nonces.
    public func sign(_ session: SigningSession, package: SigningPackage) async throws -> SignatureShare {
        try checkUsable(session)
        return try await signShare(session, package: package, key: try await loadKeyPackage(session.identifier))
    }

    private func checkUsable(_ session: SigningSession) throws {
        guard ContinuousClock.now < session.deadline else {
            session.wipe()
            throw FROSTError(.sessionExpired, "participant \(session.identifier)'s signing session expired (lifetime \(sessionLifetime)); its nonces were wiped; run round one again")
        }
        guard !session.nonces.isSpent else {
            throw FROSTError(.sessionUsed, "participant \(session.identifier)'s signing session was already used; nonces are single-use")
        }
    }

    private func signShare(_ session: SigningSession, package: SigningPackage, key: KeyPackage) async throws -> SignatureShare {
        guard key.epoch == session.epoch else {
            session.wipe()
            throw FROSTError(.groupState, "participant \(session.identifier)'s shares were refreshed since round one; run round one again")
        }
        return try FROST.sign(package, nonces: session.nonces, keyPackage: key)
    }

    /// Both rounds for `signers` in this process, as coordinator too: commitments, signature shares,
    /// aggregation and verification under the group key.
    ///
    /// Every signer uses its key package of one epoch: the newest any signer's store has committed.
    /// While an interrupted refresh is committed store by store, a store not yet committed still
    /// names the old versions, but the new ones it holds were confirmed before any record named them,
    /// and no old version is destroyed before every record names the new ones; so old and new shares
    /// never meet in one signature.
    public func sign(message: [UInt8], signers: [ParticipantID]) async throws -> Signature {
        do {
            return try await sign(message: message, signers: signers, freshRecords: false)
        } catch let error as StrongroomError where error.code == .shareNotFound {
            // Another process may have refreshed (new versions) or erased since the records were cached.
            return try await sign(message: message, signers: signers, freshRecords: true)
        }
    }

    private func sign(message: [UInt8], signers: [ParticipantID], freshRecords: Bool) async throws -> Signature {
        var record = try await self.record(for: signers.first ?? 1, fresh: freshRecords)
        for id in signers.dropFirst() {
            let other = try await self.record(for: id, fresh: freshRecords)
            if other.epoch > record.epoch { record = other }
        }
        let group = try publicKeys(record)
        guard Set(signers).count == signers.count, signers.count >= Int(group.minSigners) else {
            throw FROSTError(.invalidInput, "group '\(name)' needs at least \(group.minSigners) distinct signers, got \(signers)")
        }
        var sessions: [SigningSession] = []
        for id in signers {
            let key = try await loadKeyPackage(id, record: record)
            sessions.append(SigningSession(identifier: id, epoch: key.epoch, nonces: try FROST.commit(key), lifetime: sessionLifetime))
        }
        let package = try SigningPackage(suite: group.suite, commitments: sessions.map(\.commitments), message: message)
        var shares: [SignatureShare] = []
        for session in sessions {
            try checkUsable(session)
            shares.append(try await signShare(session, package: package, key: try await loadKeyPackage(session.identifier, record: record)))
        }
        return try FROST.aggregate(package, shares: shares, publicKeys: group)
    }

    /// Verifies a serialised signature under the group key.
    public func verify(signature: [UInt8], message: [UInt8]) async throws -> Bool {
        FROST.verify(signature: signature, message: message, groupKey: try await publicKeyPackage().groupKey)
    }

    // MARK: Erase

    /// Destroys every version of participant `id`'s key package and marks it erased in the group's
    /// records. Afterwards the engine reports the share as gone.
    @discardableResult
    public func erase(_ id: ParticipantID) async throws -> Int {
        let store = try store(id)
        let erased: Int
        do {
            erased = try await store.erase(try shareID(id))
        } catch let error as StrongroomError where error.code == .shareNotFound {
            erased = 0
        }
        for store in distinctStores {
            guard var record = try await readRecord(store) else { continue }
            if let index = record.members.firstIndex(where: { $0.identifier == id }) { record.members[index].erased = true }
            try await writeRecord(record, to: store)
        }
        logger.notice("erased participant's key share", metadata: ["frost.participant": "\(id)", "share.versions": "\(erased)"])
        return erased
    }
}

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
