import Foundation
import Logging
import SecureCrypto

/// What ``ShareStore/importVersion(_:secret:)`` did.
public enum ImportOutcome: Sendable, Hashable {
    /// The version was not there and is now, sealed under this vault's keys.
    case created
    /// The version was already there with the same bytes, created-at and metadata (a resumed copy).
    case alreadyPresent
}

extension StrongroomError.Code {
    /// A migration or import found a share version in the destination that differs from the source's
    /// (bytes, created-at or metadata); nothing was overwritten.
    public static let migrationConflict = StrongroomError.Code("migration conflict", exitStatus: 65)
    /// A migration was refused before it copied anything: the destination is the source vault itself,
    /// or holds shares of another vault (no journal of a migration from this source).
    public static let migrationRefused = StrongroomError.Code("migration refused", exitStatus: 73)
}

extension ShareStore {
    /// Creates exactly version `item.version` of share `item.shareID` (a record when it is 0), sealed
    /// under this vault's keys with the given created-at and metadata bytes unchanged: what a
    /// migration writes. Create-if-absent: when the version is already there, it is loaded and
    /// compared in locked memory (constant time) with `secret`, its created-at and metadata with the
    /// item's; identical is ``ImportOutcome/alreadyPresent``, anything else throws
    /// ``StrongroomError/Code/migrationConflict`` naming the share and version, and nothing is written.
    public func importVersion(_ item: MigrationItem, secret: SecretBytes) async throws -> ImportOutcome {
        let event = AuditEvent(
            .importVersion, shareID: item.shareID, versions: [item.version],
            details: item.isRecord ? ["record": "true"] : [:])
        return try await auditedOperation(event, mutating: true, listing: false) { event in
            let outcome = try await importVersionUnaudited(item, secret: secret)
            event.details["outcome"] = outcome == .created ? "created" : "already-present"
            return outcome
        }
    }

    /// ``importVersion(_:secret:)`` without its audit record (a migration records its summary).
    func importVersionUnaudited(_ item: MigrationItem, secret: SecretBytes) async throws -> ImportOutcome {
        let id = item.shareID
        let limit = item.isRecord ? Envelope.maximumRecordBytes : Envelope.maximumShareBytes
        guard secret.count >= 1, secret.count <= limit else {
            throw StrongroomError(.invalidInput, "\(item) is \(secret.count) bytes; the limit is 1 to \(limit)")
        }
        guard item.metadata.count <= Envelope.maximumMetadataBytes else {
            throw StrongroomError(
                .invalidInput, "\(item) has \(item.metadata.count) bytes of metadata; the limit is \(Envelope.maximumMetadataBytes)")
        }
        let key = item.isRecord ? ShareStore.recordKey(id) : ShareStore.blobKey(id, item.version)
        return try await blobs.withLock(.shared) {
            if try await blobs.read(key) != nil {
                try await checkSame(item, secret: secret)
                return .alreadyPresent
            }
            let spans = blobs.sharedLockSpansProcesses
            var state = spans ? try await readState() : try await cachedOrFreshState()
            if !item.isRecord { await finishInterruptedOpportunistically(id) }
            var refreshed = spans
            while true {
                let sealed: SealedShare
                let envelope: Envelope
                do {
                    (sealed, envelope) = try await sealEnvelope(id, item.version, secret, item.metadata, item.createdAt, state)
                } catch let error as StrongroomError where error.code == .keyUnavailable && !refreshed {
                    state = try await freshState()  // a cached state may name a KEK a rotation retired
                    refreshed = true
                    continue
                }
                guard try await blobs.create(key, envelope.serialized()) else {
                    // Another migration of the same source wrote it first.
                    try await checkSame(item, secret: secret)
                    return .alreadyPresent
                }
                if !spans && !item.isRecord {
                    try await confirmCurrentKEK(
                        id, item.version, secret: secret, sealedUnder: sealed.kekVersion,
                        recovery: envelope.recovery?.fingerprint)
                }
                logger.debug(
                    "imported share version",
                    metadata: ["share.id": "\(id)", "share.version": "\(item.version)", "kek.version": "\(sealed.kekVersion)"])
                return .created
            }
        }
    }

    /// Loads exactly `item`'s version from this vault with its header: the checked load, then the
    /// created-at and metadata of the blob it opened. Throws ``StrongroomError/Code/shareNotFound``
    /// when the version is not there.
    func loadExact(_ item: MigrationItem) async throws -> (secret: SecretBytes, createdAt: UInt64, metadata: [UInt8]) {
        let secret = try await open(item)
        let key = item.isRecord ? ShareStore.recordKey(item.shareID) : ShareStore.blobKey(item.shareID, item.version)
        guard let blob = try await blobs.read(key) else { throw ShareStore.notFound(item.shareID, item.version) }
        // The header authenticated with the load; a rotation in between rewraps the key only.
        let envelope = try checkedEnvelope(blob.bytes, id: item.shareID, version: item.version)
        return (secret, envelope.createdAt, envelope.metadata)
    }

    /// Throws ``StrongroomError/Code/migrationConflict`` unless this vault's copy of `item` has the
    /// same bytes (compared in locked memory), created-at and metadata.
    func checkSame(_ item: MigrationItem, secret: SecretBytes) async throws {
        let existing = try await loadExact(item)
        var differences: [String] = []
        if !(existing.secret == secret) { differences.append("the share bytes") }
        if existing.createdAt != item.createdAt {
            differences.append("created-at (\(existing.createdAt) here, \(item.createdAt) in the source)")
        }
        if existing.metadata != item.metadata { differences.append("the metadata") }
        guard differences.isEmpty else {
            throw StrongroomError(
                .migrationConflict,
                "\(item) is already in \(blobs.location) and differs from the source's: \(differences.joined(separator: ", ")); nothing was overwritten. Compare the two vaults, erase the wrong copy, then run migrate again")
        }
    }
}
