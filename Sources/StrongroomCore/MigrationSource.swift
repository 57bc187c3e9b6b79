import Logging
import SecureCrypto

/// One share version (or record) as a ``MigrationSource`` walks it: where it is and its non-secret
/// header fields, which a migration copies unchanged.
public struct MigrationItem: Sendable, Hashable, CustomStringConvertible {
    /// The share id (or record name).
    public var shareID: ShareID
    /// The version number: from 1 for a share version, 0 for a record (docs/format.md, "Records").
    public var version: UInt64
    /// When the version was stored (Unix seconds), from its envelope header.
    public var createdAt: UInt64
    /// The metadata bytes of its envelope header, exactly as stored (JSON or empty).
    public var metadata: [UInt8]

    /// Creates an item.
    public init(shareID: ShareID, version: UInt64, createdAt: UInt64, metadata: [UInt8]) {
        self.shareID = shareID
        self.version = version
        self.createdAt = createdAt
        self.metadata = metadata
    }

    /// True for a record (version 0).
    public var isRecord: Bool { version == 0 }

    /// "share 'id' version n" or "record 'id'", for messages.
    public var description: String {
        isRecord ? "record '\(shareID)'" : "share '\(shareID)' version \(version)"
    }
}

/// What a ``Migration`` copies from: a live ``ShareStore`` (which conforms), or a read-only copy of
/// a vault's blobs opened some other way (recovery).
public protocol MigrationSource: Sendable {
    /// The source vault's id (a migration refuses a destination with the same id).
    var vaultID: VaultID { get }
    /// Where the source lives (a directory, a bucket and prefix), for the journal and messages.
    var location: String { get }
    /// Calls `body` with every share version, then every record, one share's versions held at a time
    /// (memory flat in the number of shares). Blobs that are provably not envelopes (torn or foreign
    /// files) are skipped; any other blob that does not parse ends the walk with an error naming it.
    func forEachShareVersion(_ body: (MigrationItem) async throws -> Void) async throws
    /// Opens one version (or record) into locked memory, authenticating it as a normal load does.
    func open(_ item: MigrationItem) async throws -> SecretBytes
    /// Runs `body` holding whatever excludes writers of the source (a store's exclusive lock), so a
    /// final pass sees every version; a read-only copy just runs `body`.
    func withFinalPassLock<T: Sendable>(_ body: () async throws -> T) async throws -> T
}

extension ShareStore: MigrationSource {
    /// Where the vault's blobs live (a directory, or a bucket and prefix).
    public var location: String { blobs.location }

    /// Walks every share version and record with the store's streaming walk, reading each header.
    public func forEachShareVersion(_ body: (MigrationItem) async throws -> Void) async throws {
        try await forEachVersion { id, version in
            let isRecord = version == ShareStore.recordVersion
            let key = isRecord ? ShareStore.recordKey(id) : ShareStore.blobKey(id, version)
            guard let blob = try await blobs.read(key) else { return }  // erased meanwhile
            let envelope: Envelope
            do {
                envelope = try checkedEnvelope(blob.bytes, id: id, version: version)
            } catch let error as StrongroomError {
                if let torn = Envelope.tornReason(blob.bytes) {
                    logger.warning(
                        "migration skips a blob that is not an envelope",
                        metadata: ["share.id": "\(id)", "share.version": "\(version)", "problem": "\(torn)"])
                    return
                }
                let what = isRecord ? "record '\(id)'" : "share '\(id)' version \(version)"
                throw StrongroomError(
                    error.code, "\(what) in \(blobs.location) cannot be migrated: \(error.reason)", cause: error.cause)
            }
            try await body(
                MigrationItem(shareID: id, version: version, createdAt: envelope.createdAt, metadata: envelope.metadata))
        }
    }

    /// Opens that exact version (or record) with the normal checked load.
    public func open(_ item: MigrationItem) async throws -> SecretBytes {
        let key = item.isRecord ? ShareStore.recordKey(item.shareID) : ShareStore.blobKey(item.shareID, item.version)
        guard let secret = try await openBlob(key, id: item.shareID, version: item.version) else {
            throw item.isRecord
                ? StrongroomError(.shareNotFound, "record '\(item.shareID)' is gone from \(blobs.location)")
                : ShareStore.notFound(item.shareID, item.version)
        }
        return secret
    }

    /// Holds the store's exclusive lock: no share write, erase or rotation of any process meanwhile
    /// (tier 2: the lease, which writers of other processes check after their write).
    public func withFinalPassLock<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await blobs.withLock(.exclusive, body)
    }
}
