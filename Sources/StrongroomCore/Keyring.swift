import SecureCrypto

/// A share version sealed by a ``Keyring``: the wrapped data key and the AES-GCM output.
public struct SealedShare: Sendable, Hashable {
    /// The KEK version that wraps the data key.
    public var kekVersion: UInt32
    /// How the data key is wrapped (a PKCS#11 mechanism id, or a tier-specific id; see docs/format.md).
    public var wrapMechanism: UInt32
    /// The wrapped data key.
    public var wrappedKey: [UInt8]
    /// The 12-byte AES-GCM IV (public).
    public var iv: [UInt8]
    /// The share encrypted under the data key.
    public var ciphertext: [UInt8]
    /// The 16-byte AES-GCM tag.
    public var tag: [UInt8]

    /// Creates a sealed share.
    public init(
        kekVersion: UInt32, wrapMechanism: UInt32, wrappedKey: [UInt8], iv: [UInt8], ciphertext: [UInt8],
        tag: [UInt8]
    ) {
        self.kekVersion = kekVersion
        self.wrapMechanism = wrapMechanism
        self.wrappedKey = wrappedKey
        self.iv = iv
        self.ciphertext = ciphertext
        self.tag = tag
    }
}

extension SealedShare {
    /// Opens the share ciphertext with its (unwrapped) data key. A tag that does not verify is an
    /// integrity failure; nothing is released then. A ``Keyring`` outside this module calls it from
    /// `open` once it has unwrapped the data key.
    public func openCiphertext(dataKey: SecretBytes, associatedData: [UInt8]) throws(StrongroomError) -> SecretBytes {
        do {
            return try AESGCM.open(
                AESGCM.Sealed(ciphertext: ciphertext, tag: tag), key: dataKey, iv: iv, aad: associatedData)
        } catch where error.code == .authenticationFailed {
            throw StrongroomError(
                .integrityCheckFailed,
                "the share's AES-GCM tag did not verify: the blob was altered, or copied from another share id or version")
        } catch {
            throw StrongroomError(.crypto, "share decryption failed", cause: error.description)
        }
    }
}

/// The key-encryption side of a tier, shaped after the PKCS#11 object model: numbered KEK versions
/// under one KEK id, each able to wrap and unwrap data keys, which seal and open shares.
///
/// Implementations throw ``StrongroomError`` with ``StrongroomError/Code/integrityCheckFailed`` when a
/// wrapped key or ciphertext does not verify, and never release plaintext in that case.
public protocol Keyring: Sendable {
    /// The tier this keyring belongs to.
    var tier: Tier { get }
    /// The id of the KEK family, written into every envelope (tier 1: the vault id).
    var kekID: String { get }
    /// Seals `share` under a fresh data key wrapped by KEK version `kekVersion`.
    func seal(_ share: SecretBytes, associatedData: [UInt8], kekVersion: UInt32) async throws -> SealedShare
    /// Seals `share` under `dataKey` — a fresh 32-byte AES-256 key the store generated (so that it
    /// can also seal it to the vault's recovery key) — and wraps that data key under KEK version
    /// `kekVersion`. The result opens with ``open(_:associatedData:)`` like any other.
    ///
    /// A tier that cannot take a data key from outside keeps the default, which throws
    /// ``StrongroomError/Code/recoveryUnsupported``: such a vault cannot be given a recovery key.
    func seal(_ share: SecretBytes, dataKey: SecretBytes, associatedData: [UInt8], kekVersion: UInt32) async throws
        -> SealedShare
    /// Unwraps the data key and opens the share.
    func open(_ sealed: SealedShare, associatedData: [UInt8]) async throws -> SecretBytes
    /// Re-wraps the data key under KEK version `target`, leaving the ciphertext as it is, and verifies
    /// that the result opens before returning it.
    func rewrap(_ sealed: SealedShare, associatedData: [UInt8], to target: UInt32) async throws -> SealedShare
    /// Makes KEK version `version` ready to use. Idempotent.
    func prepareKEK(version: UInt32) async throws
    /// Destroys KEK versions older than `version` once nothing uses them. Idempotent.
    func retireKEKs(olderThan version: UInt32) async throws
    /// Checks, when a pending rotation resumes, that its target KEK version `version` is still
    /// usable, and replaces it when it is not and `anySealedUnder` says no blob is sealed under it.
    func resumeKEK(version: UInt32, anySealedUnder: () async throws -> Bool) async throws
    /// The key inside the tier's boundary that authenticates audit checkpoints (docs/audit.md), made
    /// on first use if the vault has none yet. Nil (the default): the tier has no such key, and its
    /// log is hash-chained only, which `status` and `audit verify` say.
    func auditKey() async throws -> (any AuditMACKey)?
}

extension Keyring {
    /// No audit MAC key.
    public func auditKey() async throws -> (any AuditMACKey)? { nil }

    /// Nothing to check: the tier's KEK versions cannot be half made.
    public func resumeKEK(version: UInt32, anySealedUnder: () async throws -> Bool) async throws {}
}

extension Keyring {
    /// The default for tiers that make their data keys themselves: refuses, so that such a vault
    /// cannot be given a recovery key (``ShareStore/enrolRecoveryKey(_:dryRun:concurrency:progress:)``
    /// checks this before it changes anything).
    public func seal(_ share: SecretBytes, dataKey: SecretBytes, associatedData: [UInt8], kekVersion: UInt32) async throws
        -> SealedShare
    {
        throw StrongroomError(
            .recoveryUnsupported,
            "the \(tier) tier's keyring cannot seal a share under a data key Strongroom made, so this vault cannot take a recovery key")
    }
}
