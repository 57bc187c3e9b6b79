import Foundation
import Logging
import SecureCrypto
import StrongroomCore
import Synchronization

/// The participants' and the coordinator's side of signing, every participant in this process.
extension FROSTGroup {
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
        try await participant(id).loadKeyPackage(record: record)
    }

    func participant(_ id: ParticipantID) throws -> FROSTParticipant {
        guard let participant = participants[id] else {
            throw FROSTError(.invalidInput, "participant \(id) of group '\(name)' has no store configured")
        }
        return participant
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
        let event = AuditEvent(
            .frostSign,
            details: [
                "frost.group": name, "frost.signers": FROSTAudit.list(signers), "message.sha256": FROSTAudit.digest(message),
            ])
        return try await FROSTAudit.record(event, in: distinctStores) { _ in try await signMessage(message, signers: signers) }
    }

    private func signMessage(_ message: [UInt8], signers: [ParticipantID]) async throws -> Signature {
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
        let coordinator = try FROSTCoordinator(group: name, publicKeys: group)
        let package = try coordinator.signingPackage(message: message, commitments: sessions.map(\.commitments))
        var shares: [SignatureShare] = []
        for session in sessions {
            try checkUsable(session)
            shares.append(try await signShare(session, package: package, key: try await loadKeyPackage(session.identifier, record: record)))
        }
        return try coordinator.aggregate(package, shares: shares)
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
        let event = AuditEvent(.frostErase, shareID: try? shareID(id), details: ["frost.group": name, "frost.participant": "\(id)"])
        return try await FROSTAudit.record(event, in: distinctStores) { event in
            let erased = try await eraseShare(id)
            event.details["share.erasedVersions"] = "\(erased)"
            return erased
        }
    }

    private func eraseShare(_ id: ParticipantID) async throws -> Int {
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
