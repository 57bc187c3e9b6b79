import Foundation

/// The vault's non-secret state, kept as `vault.json` in its blob store.
struct VaultState: Codable, Sendable, Equatable {
    /// A rotation that has begun and not yet finished: resumable after a crash.
    struct Rotation: Codable, Sendable, Equatable {
        var target: UInt32
        var startedAt: UInt64
    }

    var format: Int = 1
    var vaultID: String
    var tier: String
    var kekID: String
    /// The KEK version new shares are sealed under.
    var currentKEKVersion: UInt32
    /// KEK versions below this one were retired by a finished rotation.
    var oldestActiveKEKVersion: UInt32
    var rotation: Rotation?
    /// Tier 1: HKDF(root seed, vault id, "strongroom/tier1/seed-check"), 16 bytes in hex.
    var seedCheck: String?
    var createdAt: UInt64

    static let key = "vault.json"

    func encoded() throws(StrongroomError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(self)) + [0x0A]
        } catch {
            throw StrongroomError(.io, "could not encode the vault state")
        }
    }

    static func decode(_ bytes: [UInt8], location: String) throws(StrongroomError) -> VaultState {
        do {
            return try JSONDecoder().decode(VaultState.self, from: Data(bytes))
        } catch {
            throw StrongroomError(
                .integrityCheckFailed, "\(location)/\(key) is not a valid Strongroom vault state file",
                cause: "\(error)")
        }
    }

    /// Reads the state of the vault a blob store holds: it must exist, be of `tier` and, for a
    /// directory, be private (0700). Returns the state and the vault id.
    static func existing(in blobs: any BlobStore, tier: Tier) async throws -> (VaultState, VaultID) {
        guard let stateBlob = try await blobs.read(key) else {
            throw StrongroomError(.vaultNotInitialised, "no vault at \(blobs.location); create one with `strongroom init`")
        }
        if let directory = blobs as? DirectoryBlobStore { try LocalVault.checkDirectory(directory.root) }
        let state = try decode(stateBlob.bytes, location: blobs.location)
        guard state.tier == tier.rawValue, let vaultID = VaultID(hex: state.vaultID) else {
            throw StrongroomError(.configuration, "\(blobs.location) holds a \(state.tier) vault, not a \(tier) one")
        }
        return (state, vaultID)
    }
}
