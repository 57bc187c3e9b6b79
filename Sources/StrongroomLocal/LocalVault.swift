#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import SecureCrypto
import SystemPackage
import StrongroomCore

/// Creating and opening tier 1 vaults: a directory (0700) of sealed blobs and a root seed file (0600).
public enum LocalVault {
    /// Creates a vault: its directory, a fresh 32-byte root seed file and its state. Refuses to touch
    /// an existing vault or root seed. Returns the new vault id.
    public static func initialise(
        _ settings: StrongroomConfiguration.Local, logger: Logger
    ) async throws -> VaultID {
        try await initialise(settings, sealedTo: nil, logger: logger).vaultID
    }

    /// Creates a vault whose root seed file holds the seed sealed to the custodians' key
    /// (``SealedRootSeed``) when `sealedTo` is given, else the plain seed. Returns the vault id and the
    /// fresh seed (in locked memory), so that the caller can open the new vault with
    /// ``open(_:rootSeed:lockTimeout:logger:)``.
    public static func initialise(
        _ settings: StrongroomConfiguration.Local,
        sealedTo custodians: (key: RecoveryPublicKey, custodians: Int, threshold: Int)?, logger: Logger
    ) async throws -> (vaultID: VaultID, rootSeed: SecretBytes) {
        let blobs = DirectoryBlobStore(root: settings.path, pool: .shared(threads: settings.blockingThreads))
        if try POSIX.fileInfo("\(settings.path)/\(VaultState.key)") != nil {
            throw StrongroomError(
                .vaultAlreadyExists, "\(settings.path) already holds a vault; nothing was changed")
        }
        if try POSIX.fileInfo(settings.rootSeedFile) != nil {
            throw StrongroomError(
                .vaultAlreadyExists,
                "root seed file \(settings.rootSeedFile) already exists; refusing to overwrite a root seed")
        }
        // Directories and the root seed are written (and fsynced) on the blocking pool.
        let seed = try await blobs.pool.run { () throws -> SecretBytes in
            try POSIX.makeDirectories(settings.path)
            try SecretFile.checkPrivateDirectory(settings.path)
            let seedDirectory = POSIX.parentDirectory(of: settings.rootSeedFile)
            if !seedDirectory.isEmpty { try POSIX.makeDirectories(seedDirectory) }

            let fresh = try StrongroomError.mappingCrypto { () throws(CryptoError) in try SecureRandom.secretBytes(count: LocalKeyring.rootSeedSize) }
            let fd = try POSIX.open(settings.rootSeedFile, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
            do {
                if let custodians {
                    let sealed = try SealedRootSeed.seal(
                        fresh, to: custodians.key, custodians: custodians.custodians, threshold: custodians.threshold)
                    try POSIX.writeAll(fd, bytes: sealed.fileContents, settings.rootSeedFile)
                } else {
                    try fresh.withUnsafeBytes { bytes throws(StrongroomError) in try POSIX.writeAll(fd, bytes, settings.rootSeedFile) }
                }
                guard fchmod(fd, 0o600) == 0 else { throw POSIX.error("fchmod", settings.rootSeedFile) }
                try POSIX.fsync(fd, settings.rootSeedFile)
            } catch {
                POSIX.close(fd)
                try? POSIX.unlink(settings.rootSeedFile)
                throw error
            }
            POSIX.close(fd)
            if !seedDirectory.isEmpty { try POSIX.fsyncDirectory(seedDirectory) }
            return fresh
        }

        let vaultID = VaultID(bytes: try StrongroomError.mappingCrypto { () throws(CryptoError) in try SecureRandom.bytes(count: 16) })
        let keyring = try LocalKeyring(vaultID: vaultID, rootSeed: seed)
        let state = VaultState(
            vaultID: vaultID, tier: .local, kekID: keyring.kekID, seedCheck: Hex.encode(try keyring.seedCheck()),
            createdAt: UInt64(Date().timeIntervalSince1970))
        guard try await blobs.create(VaultState.key, try state.encoded()) else {
            throw StrongroomError(.vaultAlreadyExists, "\(settings.path) already holds a vault")
        }
        logger.info("vault created", metadata: ["vault.id": "\(vaultID.hex)", "vault.path": "\(settings.path)"])
        return (vaultID, seed)
    }

    /// Opens an existing vault: reads its state, checks directory and root seed permissions, and
    /// checks that the root seed is the one the vault was created with.
    public static func open(
        _ settings: StrongroomConfiguration.Local, lockTimeout: Duration = .seconds(60), logger: Logger
    ) async throws -> ShareStore {
        try await open(settings, lockTimeout: lockTimeout, logger: logger, faults: .none)
    }

    /// Opens an existing vault with fault injection (crash tests and the conformance suite).
    public static func open(
        _ settings: StrongroomConfiguration.Local, lockTimeout: Duration, logger: Logger, faults: FaultInjection
    ) async throws -> ShareStore {
        try await open(settings, rootSeed: nil, lockTimeout: lockTimeout, logger: logger, faults: faults)
    }

    /// Opens an existing vault with a root seed already in memory (a sealed seed that custodians
    /// unsealed) instead of reading `local.rootSeedFile`; the seed must be the vault's
    /// (``StrongroomError/Code/wrongRootSeed`` otherwise).
    public static func open(
        _ settings: StrongroomConfiguration.Local, rootSeed: SecretBytes, lockTimeout: Duration = .seconds(60), logger: Logger
    ) async throws -> ShareStore {
        try await open(settings, rootSeed: rootSeed, lockTimeout: lockTimeout, logger: logger, faults: .none)
    }

    static func open(
        _ settings: StrongroomConfiguration.Local, rootSeed: SecretBytes?, lockTimeout: Duration, logger: Logger,
        faults: FaultInjection
    ) async throws -> ShareStore {
        let blobs = DirectoryBlobStore(
            root: settings.path, lockTimeout: lockTimeout, faults: faults, pool: .shared(threads: settings.blockingThreads))
        let (state, vaultID) = try await VaultState.existing(in: blobs, tier: .local)
        let seed = try rootSeed ?? readRootSeed(settings.rootSeedFile)
        let keyring = try LocalKeyring(vaultID: vaultID, rootSeed: seed)
        guard let expected = state.seedCheck, Hex.encode(try keyring.seedCheck()) == expected else {
            throw StrongroomError(
                .wrongRootSeed,
                "root seed file \(settings.rootSeedFile) does not belong to vault \(vaultID.hex) at \(settings.path); check local.rootSeedFile")
        }
        return ShareStore(vaultID: vaultID, keyring: keyring, blobs: blobs, logger: logger, faults: faults)
    }

    /// Reads a root seed file straight into locked memory, refusing group- or world-accessible files.
    public static func readRootSeed(_ path: String) throws(StrongroomError) -> SecretBytes {
        let (fd, info) = try SecretFile.openOwnerOnly(
            path, what: "root seed file", setting: "local.rootSeedFile", unreadable: .wrongRootSeed)
        defer { POSIX.close(fd) }
        if Int(info.st_size) == SealedRootSeed.size {
            throw StrongroomError(
                .rootSeedSealed,
                "root seed file \(path) holds a sealed root seed: set local.seal: sealed and open the vault through `strongroom serve` (unsealed with `strongroom unseal`)")
        }
        guard Int(info.st_size) == LocalKeyring.rootSeedSize else {
            throw StrongroomError(
                .wrongRootSeed, "root seed file \(path) is \(info.st_size) bytes; a root seed is \(LocalKeyring.rootSeedSize)")
        }
        do {
            return try SecretBytes(count: LocalKeyring.rootSeedSize) { buffer in
                guard try POSIX.readFully(fd, into: buffer, path) == buffer.count else {
                    throw StrongroomError(.wrongRootSeed, "root seed file \(path) ended early while being read")
                }
            }
        } catch let error as StrongroomError {
            throw error
        } catch {
            throw StrongroomError(.crypto, "could not hold the root seed in locked memory", cause: "\(error)")
        }
    }

    /// Removes a throwaway vault directory and everything in it (benchmarks), best effort.
    static func removeDirectory(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }
}
