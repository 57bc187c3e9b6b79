import Foundation
import Logging
import SecureCrypto
import StrongroomCore

/// One participant of a FROST group: one identifier and the one store that keeps its key package.
///
/// It runs its own side of every protocol and exchanges only encoded messages (``FROSTMessage``): the
/// DKG (``dkgRound1(session:suite:minSigners:maxSigners:)``, ``dkgRound2(round1:)``,
/// ``dkgFinish(round1:round2:)``), signing (``commit(session:)``, ``sign(_:)``), refresh
/// (``refreshRound1(session:)``, ``refreshFinish(packages:shares:)``) and ``erase()``. Whatever it must
/// keep between two steps that may run in different processes (its DKG polynomial, its signing nonces)
/// is sealed in its own store and erased when used: nonces are single-use across processes too.
///
/// Its store also holds its copy of the group's record (`frost.<group>`), which it writes itself from
/// the public values of the DKG and of each refresh; members kept by other processes are listed with
/// tier `remote`. The in-process ``FROSTGroup`` holds one participant per identifier and loads key
/// packages through them.
public final class FROSTParticipant: Sendable {
    /// The group's name.
    public let group: String
    /// This participant's identifier.
    public let identifier: ParticipantID
    /// The store that keeps its key package.
    public let store: ShareStore
    let logger: Logger

    /// The tier name a participant's record gives members that other processes keep.
    public static let remoteTier = "remote"

    /// A participant `identifier` of group `group`, keeping its shares in `store`.
    public init(group: String, identifier: ParticipantID, store: ShareStore, logger: Logger) throws {
        _ = try FROSTGroup.recordName(group)
        guard identifier >= 1, identifier <= 255 else {
            throw FROSTError(.invalidInput, "participant identifiers are 1...255, not \(identifier)")
        }
        self.group = group
        self.identifier = identifier
        self.store = store
        var logger = logger
        logger[metadataKey: "frost.group"] = "\(group)"
        logger[metadataKey: "frost.participant"] = "\(identifier)"
        self.logger = logger
    }

    // MARK: Names

    /// `frost.<group>.p<i>`: its key package.
    public var shareID: ShareID { get throws { try ShareID("frost.\(group).p\(identifier)") } }
    /// `frost.<group>.p<i>.dkg`: its DKG polynomial between round one and the finish.
    var dkgShareID: ShareID { get throws { try ShareID("frost.\(group).p\(identifier).dkg") } }
    /// `frost.<group>.p<i>.channel`: its channel key pair, from publishing it until the DKG finishes.
    var channelShareID: ShareID { get throws { try ShareID("frost.\(group).p\(identifier).channel") } }
    /// `frost.<group>.p<i>.nonce.<session>`: its nonces of one signing session, until it signs.
    func nonceShareID(_ session: SessionID) throws -> ShareID { try ShareID("frost.\(group).p\(identifier).nonce.\(session.shortHex)") }

    var location: String { "\(store.tier) vault \(store.vaultID)" }

    // MARK: Record and key package

    /// The group record its store holds.
    func record() async throws -> GroupRecord {
        guard let record = try await GroupRecord.read(group: group, from: store) else {
            throw FROSTError(.groupState, "no group '\(group)' in participant \(identifier)'s \(location); run the DKG first")
        }
        return record
    }

    /// The group's public data as its own record holds it.
    public func publicKeyPackage() async throws -> PublicKeyPackage { try await record().publicKeyPackage() }

    /// Loads its key package of the version `record` names, checked against the record.
    func loadKeyPackage(record: GroupRecord) async throws -> KeyPackage {
        let member = try record.member(identifier)
        if member.erased {
            throw FROSTError(.shareGone, "participant \(identifier)'s key share of group '\(group)' was erased from its \(store.tier) vault; it can no longer sign (the others still can, if at least \(record.minSigners) remain)")
        }
        if member.tier == FROSTParticipant.remoteTier {
            throw FROSTError(.groupState, "participant \(identifier) of group '\(group)' keeps its key package in its own vault, in another process; run `strongroom frost participant` with its configuration")
        }
        let bytes: SecretBytes
        do {
            bytes = try await store.load(try shareID, version: member.version)
        } catch let error as StrongroomError where error.code == .shareNotFound {
            let any = (try? await store.versions(try shareID)) != nil
            if !any {
                throw FROSTError(.shareGone, "participant \(identifier)'s key share of group '\(group)' is gone from its \(location) (no versions of '\(try shareID)'); it was erased")
            }
            throw error
        }
        // Opened from an authenticated envelope: skip re-validating the points; compare them with the record.
        let key = try KeyPackage(deserializing: bytes, authenticated: true)
        guard key.identifier == identifier, key.epoch == record.epoch, Hex.encode(try key.groupKey.serialize()) == record.groupKey,
            Hex.encode(try key.verifyingShare.serialize()) == member.verifyingShare
        else {
            throw FROSTError(.groupState, "participant \(identifier)'s stored key package (epoch \(key.epoch)) does not match group '\(group)''s record (epoch \(record.epoch))")
        }
        return key
    }

    func metadata(epoch: UInt32) -> [String: String] {
        ["frost.group": group, "frost.participant": "\(identifier)", "frost.epoch": "\(epoch)", "frost.format": "\(KeyPackage.formatVersion)"]
    }

    // MARK: DKG

    /// DKG round one in the run `session`: draws its polynomial, seals it in its store until the
    /// finish, and returns its round-one broadcast (``FROSTMessage/Kind/dkgRound1``).
    public func dkgRound1(session: SessionID, suite: Ciphersuite, minSigners: UInt16, maxSigners: UInt16) async throws -> [UInt8] {
        if try await GroupRecord.read(group: group, from: store) != nil {
            throw FROSTError(.groupState, "group '\(group)' already exists in participant \(identifier)'s \(location); pick another name or erase it first")
        }
        let (secret, package) = try DKG.round1(identifier: identifier, minSigners: minSigners, maxSigners: maxSigners, suite: suite, session: session)
        _ = try await store.store(try dkgShareID, try secret.serialized(), metadata: ["frost.group": group, "frost.session": session.hex])
        logger.info("DKG round one", metadata: ["frost.session": "\(session)"])
        return try FROSTMessage.encode(package)
    }

    /// A fresh channel key for the run `session` (``FROSTMessage/Kind/channelKey``): the other
    /// participants seal their secret round-two messages for it to this key (``FROSTChannel``). The key
    /// pair is sealed in its store until ``dkgFinish(round1:round2:)`` erases it.
    public func channelKey(session: SessionID, suite: Ciphersuite) async throws -> [UInt8] {
        let keyPair = try FROSTChannel.makeKeyPair()
        _ = try await store.store(try channelShareID, keyPair, metadata: ["frost.group": group, "frost.session": session.hex])
        return try FROSTChannel.keyMessage(keyPair, suite: suite, session: session, sender: identifier)
    }

    /// Opens a secret message sealed to its channel key (see ``channelKey(session:suite:)``).
    public func open(sealed message: [UInt8]) async throws -> SecretBytes {
        let header = try FROSTMessage.header(of: message)
        guard header.recipient == identifier else {
            throw FROSTError(.invalidInput, "\(header.origin) is for participant \(header.recipient), not \(identifier)")
        }
        let keyPair: SecretBytes
        do {
            keyPair = try await store.load(try channelShareID)
        } catch let error as StrongroomError where error.code == .shareNotFound {
            throw FROSTError(.groupState, "participant \(identifier) has no channel key of group '\(group)' in its \(location); it publishes one with DKG round one")
        }
        return try FROSTChannel.open(message, keyPair: keyPair, suite: header.suite)
    }

    /// The DKG polynomial round one sealed.
    func dkgSecret() async throws -> DKG.Round1Secret {
        let bytes: SecretBytes
        do {
            bytes = try await store.load(try dkgShareID)
        } catch let error as StrongroomError where error.code == .shareNotFound {
            throw FROSTError(.groupState, "participant \(identifier) has no DKG round one of group '\(group)' in progress in its \(location); run dkg-round1 first")
        }
        return try DKG.Round1Secret(deserializing: bytes)
    }

    /// DKG round two: checks every other participant's round-one broadcast (its proof of knowledge,
    /// bound to the run), then returns one secret round-two share for each of them, encoded.
    public func dkgRound2(round1: [[UInt8]]) async throws -> [SecretBytes] {
        let secret = try await dkgSecret()
        let packages = try round1.map { try FROSTMessage.decodeDKGRound1($0, suite: secret.suite) }
        return try DKG.round2(secret, received: packages).map { try FROSTMessage.encode($0) }
    }

    /// Finishes the DKG: checks the round-two shares addressed to it against their senders'
    /// commitments, stores its key package, writes its record of the group, and erases its polynomial.
    public func dkgFinish(round1: [[UInt8]], round2: [SecretBytes]) async throws -> PublicKeyPackage {
        let event = AuditEvent(
            .frostKeygen, shareID: try? shareID,
            details: ["frost.group": group, "frost.participant": "\(identifier)", "frost.keygen": "dkg"])
        return try await FROSTAudit.record(event, in: [store]) { event in
            let publicKeys = try await finishDKG(round1: round1, round2: round2)
            event.details["frost.threshold"] = "\(publicKeys.minSigners)-of-\(round1.count)"
            return publicKeys
        }
    }

    private func finishDKG(round1: [[UInt8]], round2: [SecretBytes]) async throws -> PublicKeyPackage {
        let secret = try await dkgSecret()
        let packages = try round1.map { try FROSTMessage.decodeDKGRound1($0, suite: secret.suite) }
        let shares = try round2.map { try FROSTMessage.decodeDKGRound2($0, suite: secret.suite) }
        if let stray = shares.first(where: { $0.recipient != identifier }) {
            throw FROSTError(.invalidInput, "participant \(stray.sender)'s round-two share is for participant \(stray.recipient), not \(identifier)")
        }
        let (key, publicKeys) = try DKG.finalize(secret, round1: packages, received: shares)
        let version = try await store.store(try shareID, try key.serialized(), metadata: metadata(epoch: key.epoch))
        let record = try GroupRecord(group: group, publicKeys: publicKeys, own: identifier, version: version, tier: store.tier.rawValue)
        try await store.writeRecord(try FROSTGroup.recordName(group), try record.encoded())
        _ = try await store.erase(try dkgShareID)
        if (try? await store.versions(try channelShareID))?.isEmpty == false { _ = try await store.erase(try channelShareID) }
        logger.info("DKG finished: key package stored", metadata: ["share.version": "\(version)"])
        return publicKeys
    }

    // MARK: Signing

    /// Round one of signing in the run `session`: fresh nonces from its key package, sealed in its
    /// store until it signs; returns its commitments (``FROSTMessage/Kind/signingCommitments``).
    public func commit(session: SessionID) async throws -> [UInt8] {
        let record = try await record()
        let key = try await loadKeyPackage(record: record)
        let nonceID = try nonceShareID(session)
        if (try? await store.versions(nonceID))?.isEmpty == false {
            throw FROSTError(.sessionUsed, "participant \(identifier) already committed in signing session \(session); start a new session")
        }
        let nonces = try FROST.commit(key)
        guard let (hiding, binding) = nonces.take() else { throw FROSTError(.sessionUsed, "fresh nonces were wiped") }
        let sealed = try SigningNonces.serialized(
            suite: key.suite, identifier: identifier, epoch: key.epoch, session: session, hiding: hiding, binding: binding)
        _ = try await store.store(nonceID, sealed, metadata: ["frost.group": group, "frost.session": session.hex])
        return try FROSTMessage.encode(nonces.commitments, session: session)
    }

    /// Round two: its signature share over the coordinator's signing package, with the nonces of the
    /// package's session, which are erased from its store before the share is computed (a second
    /// request in the same session is refused). Returns ``FROSTMessage/Kind/signatureShare``.
    public func sign(_ signingPackage: [UInt8]) async throws -> [UInt8] {
        let event = AuditEvent(
            .frostSign, shareID: try? shareID,
            details: [
                "frost.group": group, "frost.participant": "\(identifier)",
                "signingPackage.sha256": FROSTAudit.digest(signingPackage),
            ])
        return try await FROSTAudit.record(event, in: [store]) { _ in try await signPackage(signingPackage) }
    }

    private func signPackage(_ signingPackage: [UInt8]) async throws -> [UInt8] {
        let record = try await record()
        let suite = try record.suite
        let (header, package) = try FROSTMessage.decodeSigningPackage(signingPackage, suite: suite)
        let nonceID = try nonceShareID(header.session)
        let sealed: SecretBytes
        do {
            sealed = try await store.load(nonceID)
        } catch let error as StrongroomError where error.code == .shareNotFound {
            throw FROSTError(.sessionUsed, "participant \(identifier) has no unused nonces for signing session \(header.session): it did not commit in it, or already signed (nonces are single-use)")
        }
        _ = try await store.erase(nonceID)
        let (epoch, nonces) = try SigningNonces.deserialized(sealed, suite: suite, identifier: identifier, session: header.session)
        guard epoch == record.epoch else {
            throw FROSTError(.groupState, "participant \(identifier)'s shares were refreshed since it committed; commit again")
        }
        let key = try await loadKeyPackage(record: record)
        let share = try FROST.sign(package, nonces: nonces, keyPackage: key)
        return try FROSTMessage.encode(share, session: header.session)
    }

    // MARK: Refresh

    /// Refresh round one in the run `session`: its commitment (``FROSTMessage/Kind/refreshRound1``) and
    /// one secret share for every participant, itself included (``FROSTMessage/Kind/refreshRound2``).
    public func refreshRound1(session: SessionID) async throws -> (package: [UInt8], shares: [SecretBytes]) {
        let record = try await record()
        let group = try record.publicKeyPackage()
        _ = try await loadKeyPackage(record: record)
        let (package, shares) = try Refresh.round1(identifier: identifier, group: group, session: session)
        return (try FROSTMessage.encode(package, suite: group.suite), try shares.map { try FROSTMessage.encode($0) })
    }

    /// Finishes a refresh: checks the shares addressed to it, stores its new key package as a new
    /// version, moves its record to the new epoch, then destroys its older versions.
    public func refreshFinish(packages: [[UInt8]], shares: [SecretBytes]) async throws -> PublicKeyPackage {
        let event = AuditEvent(.frostRefresh, shareID: try? shareID, details: ["frost.group": group, "frost.participant": "\(identifier)"])
        return try await FROSTAudit.record(event, in: [store]) { event in
            let publicKeys = try await finishRefresh(packages: packages, shares: shares)
            event.details["frost.epoch"] = "\(publicKeys.epoch)"
            return publicKeys
        }
    }

    private func finishRefresh(packages: [[UInt8]], shares: [SecretBytes]) async throws -> PublicKeyPackage {
        var record = try await record()
        let group = try record.publicKeyPackage()
        let key = try await loadKeyPackage(record: record)
        let decodedPackages = try packages.map { try FROSTMessage.decodeRefreshRound1($0, suite: group.suite) }
        let decodedShares = try shares.map { try FROSTMessage.decodeRefreshRound2($0, suite: group.suite) }
        let (newKey, newGroup) = try Refresh.finalize(key, group: group, packages: decodedPackages, shares: decodedShares)
        let version = try await store.store(try shareID, try newKey.serialized(), metadata: metadata(epoch: newKey.epoch))
        let old = (try? record.member(identifier))?.version ?? 0
        record = try GroupRecord(group: self.group, publicKeys: newGroup, own: identifier, version: version, tier: store.tier.rawValue, base: record)
        try await store.writeRecord(try FROSTGroup.recordName(self.group), try record.encoded())
        _ = try await store.erase(try shareID, versions: try await store.versions(try shareID).map(\.version).filter { $0 <= old })
        logger.notice("refreshed key package", metadata: ["frost.epoch": "\(newGroup.epoch)"])
        return newGroup
    }

    // MARK: Erase

    /// Destroys every version of its key package and marks it erased in its record.
    @discardableResult
    public func erase() async throws -> Int {
        let event = AuditEvent(.frostErase, shareID: try? shareID, details: ["frost.group": group, "frost.participant": "\(identifier)"])
        return try await FROSTAudit.record(event, in: [store]) { event in
            let erased = try await eraseShare()
            event.details["share.erasedVersions"] = "\(erased)"
            return erased
        }
    }

    private func eraseShare() async throws -> Int {
        let erased: Int
        do {
            erased = try await store.erase(try shareID)
        } catch let error as StrongroomError where error.code == .shareNotFound {
            erased = 0
        }
        if var record = try await GroupRecord.read(group: group, from: store),
            let index = record.members.firstIndex(where: { $0.identifier == identifier })
        {
            record.members[index].erased = true
            try await store.writeRecord(try FROSTGroup.recordName(group), try record.encoded())
        }
        logger.notice("erased participant's key share", metadata: ["share.versions": "\(erased)"])
        return erased
    }
}
