import Foundation
import SecureCrypto

/// The vault's non-secret state, kept as `vault.json` in its blob store (docs/format.md). A tier
/// writes it when it creates a vault; ``ShareStore`` keeps it from then on.
public struct VaultState: Codable, Sendable, Equatable {
    /// A rotation that has begun and not yet finished: resumable after a crash.
    public struct Rotation: Codable, Sendable, Equatable {
        /// The KEK version the rotation moves every blob to.
        public var target: UInt32
        /// When it began, in seconds since 1970.
        public var startedAt: UInt64
    }

    /// A recovery public key (docs/format.md, "Recovery key"): what it is and since when.
    public struct Recovery: Codable, Sendable, Equatable {
        /// The X25519 public key, 64 hex digits.
        public var publicKey: String
        /// SHA-256 of the key bytes, 64 hex digits.
        public var fingerprint: String
        /// When it was enrolled (for a pending enrolment: when the enrolment began), in seconds since 1970.
        public var enrolledAt: UInt64

        /// The entry for `key`, enrolled at `time`.
        public init(_ key: RecoveryPublicKey, at time: UInt64) {
            self.publicKey = Hex.encode(key.bytes)
            self.fingerprint = Hex.encode(key.fingerprint)
            self.enrolledAt = time
        }

        /// The key, checked against its fingerprint.
        public func key() throws(StrongroomError) -> RecoveryPublicKey {
            guard let bytes = Hex.decode(publicKey), let key = try? RecoveryPublicKey(bytes: bytes),
                Hex.encode(key.fingerprint) == fingerprint.lowercased()
            else {
                throw StrongroomError(
                    .integrityCheckFailed, "the vault state's recovery key does not match its fingerprint \(fingerprint)")
            }
            return key
        }
    }

    /// The state file's format version.
    public var format: Int = 1
    /// The vault id in hex.
    public var vaultID: String
    /// The tier's name.
    public var tier: String
    /// The KEK family's id, as written into every envelope.
    public var kekID: String
    /// The KEK version new shares are sealed under.
    public var currentKEKVersion: UInt32
    /// KEK versions below this one were retired by a finished rotation.
    public var oldestActiveKEKVersion: UInt32
    /// A rotation in progress.
    public var rotation: Rotation?
    /// A check value of the tier's key material, when the tier has one (tier 1: HKDF(root seed,
    /// vault id, "strongroom/tier1/seed-check"), 16 bytes in hex). Not secret.
    public var seedCheck: String?
    /// When the vault was created, in seconds since 1970.
    public var createdAt: UInt64
    /// The recovery key every share version is sealed to, once an enrolment finished (absent in
    /// vaults without one and in state files written before recovery keys existed).
    public var recovery: Recovery?
    /// The journal of an enrolment that has begun and not finished (resumable after a crash): new
    /// share versions are already sealed to this key; ``recovery`` names the key until it finishes.
    public var pendingRecovery: Recovery?
    /// The audit log's latest MAC checkpoint (docs/audit.md): a log that ends before it, or holds
    /// another record at its seq, was truncated or rolled back.
    public var audit: AuditCheckpoint?

    /// True when `other` differs from this state at most in its audit checkpoint: what a load that
    /// re-reads the state asks (an anchored checkpoint changes no key).
    public func sameKeys(as other: VaultState) -> Bool {
        var other = other
        other.audit = audit
        return self == other
    }

    /// The recovery key new share versions are sealed to: a pending enrolment's, else the enrolled one.
    public func recoveryKeyForNewBlobs() throws(StrongroomError) -> RecoveryPublicKey? {
        guard let entry = pendingRecovery ?? recovery else { return nil }
        return try entry.key()
    }

    /// The state of a new vault: KEK version 1 current and the only one active.
    public init(vaultID: VaultID, tier: Tier, kekID: String, seedCheck: String? = nil, createdAt: UInt64) {
        self.vaultID = vaultID.hex
        self.tier = tier.name
        self.kekID = kekID
        self.currentKEKVersion = 1
        self.oldestActiveKEKVersion = 1
        self.rotation = nil
        self.seedCheck = seedCheck
        self.createdAt = createdAt
    }

    /// The blob key of the state file.
    public static let key = "vault.json"

    /// The state as `vault.json` bytes.
    public func encoded() throws(StrongroomError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(self)) + [0x0A]
        } catch {
            throw StrongroomError(.io, "could not encode the vault state")
        }
    }

    /// Parses `vault.json` bytes; `location` names the store in the error.
    public static func decode(_ bytes: [UInt8], location: String) throws(StrongroomError) -> VaultState {
        do {
            return try JSONDecoder().decode(VaultState.self, from: Data(bytes))
        } catch {
            throw StrongroomError(
                .integrityCheckFailed, "\(location)/\(key) is not a valid Strongroom vault state file",
                cause: "\(error)")
        }
    }

    /// Reads the state of the vault a blob store holds: it must exist, be of `tier` and be private
    /// (``BlobStore/checkPrivate()``). Returns the state and the vault id.
    public static func existing(in blobs: any BlobStore, tier: Tier) async throws -> (VaultState, VaultID) {
        guard let stateBlob = try await blobs.read(key) else {
            throw StrongroomError(.vaultNotInitialised, "no vault at \(blobs.location); create one with `strongroom init`")
        }
        try await blobs.checkPrivate()
        let state = try decode(stateBlob.bytes, location: blobs.location)
        guard state.tier == tier.name, let vaultID = VaultID(hex: state.vaultID) else {
            throw StrongroomError(.configuration, "\(blobs.location) holds a \(state.tier) vault, not a \(tier) one")
        }
        return (state, vaultID)
    }
}
