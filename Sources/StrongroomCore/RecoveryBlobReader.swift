import SecureCrypto

/// One share version (or record, version 0) found in a copy of a vault's blobs: its header only,
/// nothing decrypted.
public struct RecoverableVersion: Sendable, Hashable {
    /// The share id (a record's name for a record).
    public var id: ShareID
    /// The share version; 0 for a record.
    public var version: UInt64
    /// When it was stored, in seconds since 1970.
    public var createdAt: UInt64
    /// The metadata bytes exactly as stored (JSON, possibly empty).
    public var metadata: [UInt8]
    /// The vault the envelope names.
    public var vaultID: VaultID
    /// True for a record (version 0).
    public var isRecord: Bool { version == 0 }
}

/// Reads a copy of a vault's blobs — a directory made by `cp -a`, an S3 prefix, any ``BlobStore`` —
/// with nothing but the recovery private key: every share version and record is opened through its
/// recovery section (docs/format.md, "Opening a v2 blob with the recovery key"). No tier's key is
/// ever asked for, and nothing is written into the copy: the reader only calls
/// ``BlobStore/read(_:)``, ``BlobStore/children(of:)`` and ``BlobStore/forEachChild(of:_:)``.
///
/// The copy may lack `vault.json`: the vault id then comes from the envelopes, which must all name
/// the same vault. When it is there, the private key's fingerprint must be the vault's recovery key
/// (enrolled or pending).
public struct RecoveryBlobReader: Sendable {
    /// The copy being read.
    public let blobs: any BlobStore
    /// The public key of the private key given.
    public let publicKey: RecoveryPublicKey
    private let privateKey: SecretBytes
    private let checkedVault = Locked<VaultID?>(nil)
    /// Without `vault.json`: the vault the first envelope named, which every other must name too.
    private let envelopeVault = Locked<VaultID?>(nil)

    /// A reader over `blobs` with the recovery private key (32 bytes, X25519).
    public init(blobs: any BlobStore, privateKey: SecretBytes) throws {
        guard privateKey.count == X25519.keySize else {
            throw StrongroomError(.invalidInput, "a recovery private key is 32 bytes, got \(privateKey.count)")
        }
        self.blobs = blobs
        self.privateKey = privateKey
        self.publicKey = try RecoveryPublicKey(privateKey: privateKey)
    }

    /// The vault id the copy's `vault.json` names (nil when the copy has none), after checking that the
    /// private key is its recovery key.
    public func vaultState() async throws -> VaultID? {
        if let known = checkedVault.withLock({ $0 }) { return known }
        guard let stateBlob = try await blobs.read(VaultState.key) else { return nil }
        let state = try VaultState.decode(stateBlob.bytes, location: blobs.location)
        guard let vaultID = VaultID(hex: state.vaultID) else {
            throw StrongroomError(.integrityCheckFailed, "\(blobs.location)/\(VaultState.key) names no valid vault id")
        }
        let mine = Hex.encode(publicKey.fingerprint)
        let known = [state.recovery?.fingerprint, state.pendingRecovery?.fingerprint].compactMap { $0 }
        guard !known.isEmpty else {
            throw StrongroomError(
                .notRecoverable, "vault \(state.vaultID) in \(blobs.location) has no recovery key; its blobs cannot be opened with one")
        }
        guard known.contains(mine) else {
            throw StrongroomError(
                .notRecoverable,
                "the recovery key given (fingerprint \(mine)) is not vault \(state.vaultID)'s recovery key (\(known.joined(separator: ", "))); use the parts of that key")
        }
        checkedVault.withLock { $0 = vaultID }
        return vaultID
    }

    /// Calls `body` with every share version, then every record, in the copy, streaming one share's
    /// versions at a time (memory constant in the number of shares). Blobs that are not envelopes at
    /// all (torn or foreign files: empty, or without the magic) are skipped; a blob that is an
    /// envelope but does not parse, names another vault, or lies under another share's name is an
    /// error naming it.
    public func forEachVersion(_ body: (RecoverableVersion) async throws -> Void) async throws {
        var vaultID = try await expectedVault()
        func visit(_ key: String, _ id: ShareID, _ version: UInt64) async throws {
            guard let blob = try await blobs.read(key), Envelope.tornReason(blob.bytes) == nil else { return }
            let envelope = try checked(blob.bytes, key: key, id: id, version: version, vaultID: vaultID)
            if vaultID == nil {
                vaultID = envelope.vaultID
                envelopeVault.withLock { $0 = envelope.vaultID }
            }
            try await body(
                RecoverableVersion(
                    id: id, version: version, createdAt: envelope.createdAt, metadata: envelope.metadata,
                    vaultID: envelope.vaultID))
        }
        try await blobs.forEachChild(of: ShareStore.sharesPrefix) { name in
            guard let id = try? ShareID(name) else { return }
            let versions = try await blobs.children(of: ShareStore.sharePrefix(id)).compactMap(ShareStore.version(fromName:))
            for version in versions.sorted() { try await visit(ShareStore.blobKey(id, version), id, version) }
        }
        try await blobs.forEachChild(of: ShareStore.recordsPrefix) { name in
            guard name.hasSuffix(".srb"), let id = try? ShareID(String(name.dropLast(4))) else { return }
            try await visit(ShareStore.recordKey(id), id, ShareStore.recordVersion)
        }
    }

    /// Opens share `id`'s version `version` (0: the record `id`) through its recovery section only:
    /// the section must name this key's fingerprint, the data key opens by HPKE with the info binding
    /// the vault, share and version, and the share with the v2 associated data.
    public func open(_ id: ShareID, version: UInt64) async throws -> SecretBytes {
        let vaultID = try await expectedVault()
        let key = version == ShareStore.recordVersion ? ShareStore.recordKey(id) : ShareStore.blobKey(id, version)
        let what = "\(version == ShareStore.recordVersion ? "record '\(id)'" : "share '\(id)' version \(version)") (\(blobs.location)/\(key))"
        guard let blob = try await blobs.read(key) else {
            throw StrongroomError(.shareNotFound, "\(what) is not in the copy")
        }
        let envelope = try checked(blob.bytes, key: key, id: id, version: version, vaultID: vaultID)
        guard let section = envelope.recovery else {
            throw StrongroomError(
                .notRecoverable,
                "\(what) has no recovery section (format v\(envelope.formatVersion)): it was written before the vault's recovery key enrolment finished, and only its tier can open it")
        }
        guard section.fingerprint == publicKey.fingerprint else {
            throw StrongroomError(
                .notRecoverable,
                "\(what) is sealed to recovery key \(Hex.encode(section.fingerprint)), not to the key given (\(Hex.encode(publicKey.fingerprint)))")
        }
        let dataKey = try section.openDataKey(
            privateKey: privateKey, vaultID: envelope.vaultID, shareID: id, shareVersion: version,
            header: envelope.header, what: what)
        do {
            return try envelope.sealed.openCiphertext(dataKey: dataKey, associatedData: envelope.associatedData)
        } catch {
            throw StrongroomError(
                .integrityCheckFailed,
                "\(what): the share did not open under the data key of its recovery section: the blob was altered", cause: error.reason)
        }
    }

    /// The vault every envelope must name: `vault.json`'s, else the one the walk found first (nil
    /// before a walk of a copy without `vault.json`).
    private func expectedVault() async throws -> VaultID? {
        if let fromState = try await vaultState() { return fromState }
        return envelopeVault.withLock { $0 }
    }

    /// Parses a blob stored under (id, version) and checks that its header says so and names the
    /// copy's vault (when known).
    private func checked(
        _ bytes: [UInt8], key: String, id: ShareID, version: UInt64, vaultID: VaultID?
    ) throws(StrongroomError) -> Envelope {
        let where_ = "\(blobs.location)/\(key)"
        let envelope: Envelope
        do {
            envelope = try Envelope(parsing: bytes)
        } catch {
            throw StrongroomError(.integrityCheckFailed, "\(where_): \(error.reason)")
        }
        guard envelope.shareID == id, envelope.shareVersion == version else {
            throw StrongroomError(
                .integrityCheckFailed,
                "\(where_) belongs to share '\(envelope.shareID)' version \(envelope.shareVersion); it was copied or swapped")
        }
        if let vaultID, envelope.vaultID != vaultID {
            throw StrongroomError(
                .integrityCheckFailed, "\(where_) belongs to vault \(envelope.vaultID.hex), not \(vaultID.hex)")
        }
        return envelope
    }
}
