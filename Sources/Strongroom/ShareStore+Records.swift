import Foundation
import Logging

/// Public records and partial erasure: what an engine built on the store (FROST) needs besides shares.
extension ShareStore {
    static let recordsPrefix = "records/"
    static func recordKey(_ name: ShareID) -> String { "records/\(name.rawValue).json" }

    /// Writes a public record (non-secret data an engine keeps next to its shares, such as a signing
    /// group's public keys), replacing any previous one. Records are stored in the clear, durably, in the
    /// vault's blob store (directory, bucket) under `records/`; they are not encrypted or authenticated
    /// by the store, so engines must check them against their sealed shares.
    public func writeRecord(_ name: ShareID, _ bytes: [UInt8]) async throws {
        guard bytes.count <= 1 << 20 else {
            throw StrongroomError(.invalidInput, "record '\(name)' is \(bytes.count) bytes; the limit is 1 MiB")
        }
        _ = try await readState()
        try await blobs.withLock(.shared) {
            _ = try await blobs.replace(ShareStore.recordKey(name), bytes, ifRevision: nil)
        }
    }

    /// Reads a public record, or nil when there is none.
    public func readRecord(_ name: ShareID) async throws -> [UInt8]? {
        try await blobs.read(ShareStore.recordKey(name))?.bytes
    }

    /// Removes a public record; a missing one is not an error.
    public func removeRecord(_ name: ShareID) async throws {
        try await blobs.withLock(.shared) {
            try await blobs.destroy(ShareStore.recordKey(name))
        }
    }

    /// Destroys the given versions of share `id` the way ``erase(_:)`` destroys all of them, keeping
    /// the others. At least one version must remain: use ``erase(_:)`` to remove a share entirely.
    /// Versions that do not exist are skipped. Returns how many versions were destroyed.
    @discardableResult
    public func erase(_ id: ShareID, versions doomed: [UInt64]) async throws -> Int {
        try await blobs.withLock(.exclusive) {
            let existing = try await versionNumbers(id)
            guard !existing.isEmpty else { throw ShareStore.notFound(id) }
            let targets = existing.filter { doomed.contains($0) }
            guard targets.count < existing.count else {
                throw StrongroomError(
                    .invalidInput, "erasing versions \(targets) would leave share '\(id)' with none; erase the share instead")
            }
            for version in targets {
                try await blobs.destroy(ShareStore.blobKey(id, version))
            }
            if !targets.isEmpty {
                logger.info("erased share versions", metadata: ["share.id": "\(id)", "share.versions": "\(targets)"])
            }
            return targets.count
        }
    }
}
