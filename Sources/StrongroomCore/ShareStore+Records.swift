import Foundation
import Logging
import SecureCrypto

/// Public records and partial erasure: what an engine built on the store (FROST) needs besides shares.
extension ShareStore {
    static let recordsPrefix = "records/"
    /// A record is sealed as share version 0 of its name: share versions start at 1, so no share
    /// blob can stand in for a record, nor a record for a share.
    static let recordVersion: UInt64 = 0
    static var maximumRecordBytes: Int { Envelope.maximumRecordBytes }
    static func recordKey(_ name: ShareID) -> String { "records/\(name.rawValue).srb" }
    static func unauthenticatedRecordKey(_ name: ShareID) -> String { "records/\(name.rawValue).json" }

    /// The names of the sealed records in this vault.
    func recordNames() async throws -> [ShareID] {
        try await blobs.children(of: ShareStore.recordsPrefix).compactMap { name in
            guard name.hasSuffix(".srb") else { return nil }
            return try? ShareID(String(name.dropLast(4)))
        }
    }

    /// Writes a record (non-secret data an engine keeps next to its shares, such as a signing group's
    /// public keys), replacing any previous one. The record is sealed like a share (docs/format.md,
    /// "Records"): an envelope of share version 0 under the record's name, whose AAD binds the vault,
    /// the tier and the name, so the tier's KEK authenticates it and rotation rewraps it. It is 1 byte
    /// to 1 MiB. A record of the same name in the old clear-text form is removed.
    public func writeRecord(_ name: ShareID, _ bytes: [UInt8]) async throws {
        try await auditedOperation(AuditEvent(.writeRecord, shareID: name), mutating: true, listing: false) { event in
            event.kekVersions = [try await writeRecordUnaudited(name, bytes)]
        }
    }

    /// ``writeRecord(_:_:)`` without its audit record; returns the KEK version the record is sealed under.
    func writeRecordUnaudited(_ name: ShareID, _ bytes: [UInt8]) async throws -> UInt32 {
        guard !bytes.isEmpty, bytes.count <= ShareStore.maximumRecordBytes else {
            throw StrongroomError(
                .invalidInput, "record '\(name)' is \(bytes.count) bytes; a record is 1 byte to 1 MiB")
        }
        // A record is not secret; it goes through SecretBytes because that is what a keyring seals.
        let plain: SecretBytes
        do {
            plain = try bytes.withUnsafeBytes { try SecretBytes(copying: $0) }
        } catch {
            throw StrongroomError(.crypto, "could not copy record '\(name)' into locked memory", cause: "\(error)")
        }
        let key = ShareStore.recordKey(name)
        return try await blobs.withLock(.shared) {
            // As for shares: where the shared lock does not exclude other processes' rotations (S3), a
            // record sealed under a KEK that a rotation has since begun to retire is sealed again.
            let spans = blobs.sharedLockSpansProcesses
            var state = spans ? try await readState() : try await cachedOrFreshState()
            var revision: String? = nil  // the first write replaces whatever is there
            var kek = state.currentKEKVersion
            for _ in 0..<5 {
                let envelope = try await sealRecord(name, plain, state: state)
                kek = envelope.sealed.kekVersion
                guard try await blobs.replace(key, envelope.serialized(), ifRevision: revision) else {
                    throw StrongroomError(.io, "record '\(name)' changed while it was being written; run the command again")
                }
                if spans { break }
                state = try await freshState()
                if state.currentKEKVersion == envelope.sealed.kekVersion,
                    try ShareStore.sealsToCurrentRecoveryKey(envelope.recovery?.fingerprint, state)
                {
                    break
                }
                revision = try await blobs.read(key)?.revision
            }
            let clearText = ShareStore.unauthenticatedRecordKey(name)
            if try await blobs.read(clearText) != nil { try await blobs.destroy(clearText) }
            return kek
        }
    }

    private func sealRecord(_ name: ShareID, _ plain: SecretBytes, state: VaultState) async throws -> Envelope {
        let created = UInt64(Date().timeIntervalSince1970)
        return try await sealEnvelope(name, ShareStore.recordVersion, plain, [], created, state).1
    }

    /// Reads and authenticates a record, or returns nil when there is none. A record that does not
    /// open (altered, copied from another vault or name, or under a KEK outside the active range) is
    /// an integrity failure. A record in the old clear-text form is not read here (see
    /// ``readUnauthenticatedRecord(_:)``).
    public func readRecord(_ name: ShareID) async throws -> [UInt8]? {
        try await auditedOperation(AuditEvent(.readRecord, shareID: name), mutating: false, listing: false) { event in
            let bytes = try await readRecordUnaudited(name)
            if bytes == nil { event.details["found"] = "false" }
            return bytes
        }
    }

    func readRecordUnaudited(_ name: ShareID) async throws -> [UInt8]? {
        do {
            guard let plain = try await openBlob(ShareStore.recordKey(name), id: name, version: ShareStore.recordVersion) else {
                return nil
            }
            // Records are public: the bytes leave locked memory.
            return plain.withUnsafeBytes { Array($0) }
        } catch let error as StrongroomError where error.code == .integrityCheckFailed {
            throw StrongroomError(
                .integrityCheckFailed,
                "record '\(name)' in \(blobs.location) did not authenticate: it was altered, copied from another vault or record, or put back from before a finished rotation; it is not used",
                cause: error.reason)
        }
    }

    /// The bytes of a record in the clear-text form that Strongroom wrote before records were sealed
    /// (`records/<name>.json`), or nil. Nothing authenticates them: anyone who can write the vault can
    /// have written them. Only for migrating such a record after checking it against sealed data.
    public func readUnauthenticatedRecord(_ name: ShareID) async throws -> [UInt8]? {
        try await auditedOperation(
            AuditEvent(.readRecord, shareID: name, details: ["form": "clear-text"]), mutating: false, listing: false
        ) { event in
            let bytes = try await blobs.read(ShareStore.unauthenticatedRecordKey(name))?.bytes
            if bytes == nil { event.details["found"] = "false" }
            return bytes
        }
    }

    /// Removes a record (sealed, and any clear-text one of the same name); a missing one is not an error.
    public func removeRecord(_ name: ShareID) async throws {
        try await auditedOperation(AuditEvent(.removeRecord, shareID: name), mutating: true, listing: false) { _ in
            try await blobs.withLock(.shared) {
                try await blobs.destroy(ShareStore.recordKey(name))
                try await blobs.destroy(ShareStore.unauthenticatedRecordKey(name))
            }
        }
    }

    /// Destroys the given versions of share `id` the way ``erase(_:)`` destroys all of them, keeping
    /// the others. At least one version must remain: use ``erase(_:)`` to remove a share entirely.
    /// Versions that do not exist are skipped. Returns how many versions were destroyed.
    @discardableResult
    public func erase(_ id: ShareID, versions doomed: [UInt64]) async throws -> Int {
        try await auditedOperation(AuditEvent(.eraseVersions, shareID: id, versions: doomed), mutating: true, listing: false) { event in
            let erased = try await eraseVersionsUnaudited(id, versions: doomed)
            event.details["erased"] = "\(erased)"
            return erased
        }
    }

    func eraseVersionsUnaudited(_ id: ShareID, versions doomed: [UInt64]) async throws -> Int {
        try await blobs.withLock(.exclusive) {
            log(try await blobs.finishInterrupted(under: ShareStore.sharePrefix(id), holdingExclusiveLock: true), "share.id", "\(id)")
            let existing = try await versionNumbers(id)
            guard !existing.isEmpty else { throw ShareStore.notFound(id) }
            let targets = existing.filter { doomed.contains($0) }
            guard targets.count < existing.count else {
                throw StrongroomError(
                    .invalidInput, "erasing versions \(targets) would leave share '\(id)' with none; erase the share instead")
            }
            // As in `erase(_:)`: a blob that is not what Strongroom wrote loses its name without being
            // written, the other versions are still erased, and the refusal is reported at the end.
            let unsafe = try await destroyVersions(id, targets)
            if !unsafe.isEmpty {
                throw StrongroomError(
                    .unsafeFile,
                    "erased versions \(targets) of share '\(id)', but \(unsafe.count) of them could not be overwritten: \(unsafe.joined(separator: " "))")
            }
            if !targets.isEmpty {
                logger.info("erased share versions", metadata: ["share.id": "\(id)", "share.versions": "\(targets)"])
            }
            return targets.count
        }
    }
}
