// A fourth tier written the way docs/architecture.md ("Adding a tier") says: only the public API of
// StrongroomCore (and StrongroomLocal's directory store, SecureCrypto's primitives). No @testable
// import here: if the seam needed anything non-public, this file would not compile. ArchitectureTests
// registers it and runs it through the configuration, `ShareStore.open` and the store API.
import Foundation
import Logging
import SecureCrypto
import StrongroomCore
import StrongroomLocal

extension Tier {
    /// The example tier: envelope code 200, never used by a built-in tier.
    static let example = Tier(name: "example", code: 200)
}

extension StrongroomError.Code {
    /// A code of the example tier's own, declared outside the core.
    static let exampleKeyFileMissing = StrongroomError.Code("example key file missing", exitStatus: 66)
    /// The key file does not belong to the vault.
    static let exampleWrongKey = StrongroomError.Code("example wrong key", exitStatus: 77)
}

/// `example.path` (a blob directory) and `example.keyFile` (a 0600 file of 32 random bytes from
/// which every KEK version is derived with HKDF under another label than tier 1's).
struct ExampleSettings: TierSettings {
    var path: String
    var keyFile: String
    var description: String { "example.path: \(path), example.keyFile: \(keyFile)" }
}

/// KEK version v = HKDF-SHA256(key file, salt: vault id, info: "example/kek/v"); data keys wrapped
/// with AES key wrap (RFC 3394), shares sealed with AES-256-GCM.
final class ExampleKeyring: Keyring {
    let tier = Tier.example
    let kekID: String
    private let vaultID: VaultID
    private let key: SecretBytes

    init(vaultID: VaultID, key: SecretBytes) {
        self.vaultID = vaultID
        self.kekID = "example-\(vaultID.hex)"
        self.key = key
    }

    /// A check value of the key file (not secret), kept in the vault state.
    func keyCheck() throws -> String {
        let check = try StrongroomError.mappingCrypto { () throws(CryptoError) in
            try HKDF.deriveKey(ikm: key, salt: vaultID.bytes, info: Array("example/check".utf8), length: 16)
        }
        return check.withUnsafeBytes { Hex.encode(Array($0)) }
    }

    private func kek(_ version: UInt32) throws -> SecretBytes {
        try StrongroomError.mappingCrypto { () throws(CryptoError) in
            try HKDF.deriveKey(ikm: key, salt: vaultID.bytes, info: Array("example/kek/\(version)".utf8), length: 32)
        }
    }

    func seal(_ share: SecretBytes, associatedData: [UInt8], kekVersion: UInt32) async throws -> SealedShare {
        try await seal(share, dataKey: try SecureRandom.secretBytes(count: 32), associatedData: associatedData, kekVersion: kekVersion)
    }

    /// A data key the store made (a vault with a recovery key): wrapped like one made here.
    func seal(_ share: SecretBytes, dataKey: SecretBytes, associatedData: [UInt8], kekVersion: UInt32) async throws
        -> SealedShare
    {
        let iv = try SecureRandom.bytes(count: 12)
        let sealed = try AESGCM.seal(share, key: dataKey, iv: iv, aad: associatedData)
        return SealedShare(
            kekVersion: kekVersion, wrapMechanism: AESKeyWrap.mechanismRFC3394,
            wrappedKey: try AESKeyWrap.wrap(dataKey, kek: try kek(kekVersion)), iv: iv, ciphertext: sealed.ciphertext,
            tag: sealed.tag)
    }

    /// Only AES key wrap is this tier's: a blob naming another mechanism was altered. (The
    /// conformance suite's bit flips caught the first version of this keyring, which did not check.)
    private func requireMechanism(_ sealed: SealedShare) throws {
        guard sealed.wrapMechanism == AESKeyWrap.mechanismRFC3394 else {
            throw StrongroomError(.integrityCheckFailed, "the blob names wrap mechanism \(sealed.wrapMechanism), not AES key wrap")
        }
    }

    func open(_ sealed: SealedShare, associatedData: [UInt8]) async throws -> SecretBytes {
        try requireMechanism(sealed)
        let kek = try kek(sealed.kekVersion)
        let dataKey = try StrongroomError.mappingCrypto { () throws(CryptoError) in
            try AESKeyWrap.unwrap(sealed.wrappedKey, kek: kek)
        }
        return try sealed.openCiphertext(dataKey: dataKey, associatedData: associatedData)
    }

    func rewrap(_ sealed: SealedShare, associatedData: [UInt8], to target: UInt32) async throws -> SealedShare {
        try requireMechanism(sealed)
        let old = try kek(sealed.kekVersion)
        let dataKey = try StrongroomError.mappingCrypto { () throws(CryptoError) in
            try AESKeyWrap.unwrap(sealed.wrappedKey, kek: old)
        }
        var rewrapped = sealed
        rewrapped.kekVersion = target
        rewrapped.wrappedKey = try AESKeyWrap.wrap(dataKey, kek: try kek(target))
        _ = try await open(rewrapped, associatedData: associatedData)
        return rewrapped
    }

    func prepareKEK(version: UInt32) async throws {}
    func retireKEKs(olderThan version: UInt32) async throws {}
}

/// The provider: the one thing a registry needs.
struct ExampleTierProvider: TierProvider {
    var tier: Tier { .example }
    var summary: String { "example: a test tier outside the package's tier modules" }
    var settingKeys: [String] { ["example.path", "example.keyFile"] }

    func settings(from reader: ConfigurationReader) throws(StrongroomError) -> ExampleSettings {
        ExampleSettings(path: try reader.required("example.path"), keyFile: try reader.required("example.keyFile"))
    }

    func initialise(_ settings: ExampleSettings, options: VaultCreationOptions, logger: Logger) async throws -> VaultCreated {
        let blobs = DirectoryBlobStore(root: settings.path)
        guard try await blobs.read(VaultState.key) == nil else {
            throw StrongroomError(.vaultAlreadyExists, "\(settings.path) already holds a vault")
        }
        try SecretFile.makePrivateDirectory(settings.path)
        let key = try SecureRandom.secretBytes(count: 32)
        let created = key.withUnsafeBytes { bytes in
            FileManager.default.createFile(atPath: settings.keyFile, contents: Data(bytes), attributes: [.posixPermissions: 0o600])
        }
        guard created else { throw StrongroomError(.io, "could not write \(settings.keyFile)") }
        let vaultID = VaultID(bytes: try SecureRandom.bytes(count: 16))
        let check = try ExampleKeyring(vaultID: vaultID, key: key).keyCheck()
        let state = VaultState(vaultID: vaultID, tier: .example, kekID: "example-\(vaultID.hex)", seedCheck: check, createdAt: 0)
        guard try await blobs.create(VaultState.key, try state.encoded()) else {
            throw StrongroomError(.vaultAlreadyExists, "\(settings.path) already holds a vault")
        }
        return VaultCreated(vaultID: vaultID, details: ["directory: \(settings.path)"], advice: "Keep the key file.")
    }

    func open(_ settings: ExampleSettings, lockTimeout: Duration, logger: Logger) async throws -> ShareStore {
        try await open(settings, lockTimeout: lockTimeout, faults: .none, logger: logger)
    }

    /// Opens the vault with fault injection (the conformance fixture's crash points).
    func open(_ settings: ExampleSettings, lockTimeout: Duration, faults: FaultInjection, logger: Logger) async throws -> ShareStore {
        let blobs = DirectoryBlobStore(root: settings.path, lockTimeout: lockTimeout, faults: faults)
        let (state, vaultID) = try await VaultState.existing(in: blobs, tier: .example)
        guard FileManager.default.fileExists(atPath: settings.keyFile) else {
            throw StrongroomError(.exampleKeyFileMissing, "example key file \(settings.keyFile) is gone")
        }
        let key = try SecretFile.read(
            settings.keyFile, what: "example key file", setting: "example.keyFile", unreadable: .configuration,
            sizes: 32...32, trimmingNewlines: false)
        return try open(blobs: blobs, state: state, vaultID: vaultID, key: key, faults: faults, logger: logger)
    }

    /// The store over `blobs` with `key`, which must be the vault's (its check value).
    func open(
        blobs: any BlobStore, state: VaultState, vaultID: VaultID, key: SecretBytes, faults: FaultInjection, logger: Logger
    ) throws -> ShareStore {
        let keyring = ExampleKeyring(vaultID: vaultID, key: key)
        guard try keyring.keyCheck() == state.seedCheck else {
            throw StrongroomError(.exampleWrongKey, "the example key file does not belong to vault \(vaultID)")
        }
        let store = ShareStore(vaultID: vaultID, keyring: keyring, blobs: blobs, logger: logger, faults: faults)
        store.remember(state)
        return store
    }

    func benchmarkVault(
        _ settings: ExampleSettings, name: String, scratchDirectory: String, concurrency: Int,
        options: VaultCreationOptions, logger: Logger
    ) async throws -> BenchmarkVault {
        let throwaway = ExampleSettings(path: "\(scratchDirectory)/\(name)", keyFile: "\(scratchDirectory)/\(name).key")
        _ = try await initialise(throwaway, options: options, logger: logger)
        let store = try await open(throwaway, lockTimeout: .seconds(60), logger: logger)
        return BenchmarkVault(store: store) { try? FileManager.default.removeItem(atPath: throwaway.path) }
    }
}
