import SecureCrypto

/// A copy of a vault's blobs opened with the recovery private key, as a ``MigrationSource``: what
/// `strongroom recover` copies from. Every share version and record opens through its recovery
/// section (``RecoveryBlobReader``); no tier key is asked for and nothing is written into the copy,
/// so the final pass needs no lock.
public struct RecoveryMigrationSource: MigrationSource {
    /// The reader over the copy.
    public let reader: RecoveryBlobReader
    /// The vault the copy belongs to (from its `vault.json`, else from its first envelope).
    public let vaultID: VaultID

    /// A source over `reader`. Throws ``StrongroomError/Code/shareNotFound`` when the copy holds no
    /// vault state and no envelope at all (a wrong path or prefix).
    public init(reader: RecoveryBlobReader) async throws {
        self.reader = reader
        if let id = try await reader.vaultState() {
            vaultID = id
            return
        }
        // No vault.json in the copy: the envelopes name the vault (the reader checks they agree).
        let found = Locked<VaultID?>(nil)
        do {
            try await reader.forEachVersion { version in
                found.withLock { $0 = version.vaultID }
                throw FirstFound()
            }
        } catch is FirstFound {}
        guard let id = found.withLock({ $0 }) else {
            throw StrongroomError(
                .shareNotFound,
                "\(reader.blobs.location) holds no vault state and no share blob: nothing to recover (is it the vault directory or prefix itself?)")
        }
        vaultID = id
    }

    private struct FirstFound: Error {}

    /// Where the copy is.
    public var location: String { reader.blobs.location }

    public func forEachShareVersion(_ body: (MigrationItem) async throws -> Void) async throws {
        try await reader.forEachVersion { version in
            try await body(
                MigrationItem(shareID: version.id, version: version.version, createdAt: version.createdAt, metadata: version.metadata))
        }
    }

    public func open(_ item: MigrationItem) async throws -> SecretBytes {
        try await reader.open(item.shareID, version: item.version)
    }

    /// A copy has no writers to exclude: runs `body`.
    public func withFinalPassLock<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await body()
    }
}
