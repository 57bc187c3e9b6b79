#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import SecureCrypto
import SystemPackage

/// Creating and opening tier 1 vaults: a directory (0700) of sealed blobs and a root seed file (0600).
public enum LocalVault {
    /// Creates a vault: its directory, a fresh 32-byte root seed file and its state. Refuses to touch
    /// an existing vault or root seed. Returns the new vault id.
    public static func initialise(
        _ settings: StrongroomConfiguration.Local, logger: Logger
    ) async throws -> VaultID {
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
            try checkDirectory(settings.path)
            let seedDirectory = POSIX.parentDirectory(of: settings.rootSeedFile)
            if !seedDirectory.isEmpty { try POSIX.makeDirectories(seedDirectory) }

            let fresh = try crypto { () throws(CryptoError) in try SecureRandom.secretBytes(count: LocalKeyring.rootSeedSize) }
            let fd = try POSIX.open(settings.rootSeedFile, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
            do {
                try fresh.withUnsafeBytes { bytes throws(StrongroomError) in try POSIX.writeAll(fd, bytes, settings.rootSeedFile) }
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
        let vaultID = VaultID(bytes: try crypto { () throws(CryptoError) in try SecureRandom.bytes(count: 16) })
        let keyring = try LocalKeyring(vaultID: vaultID, rootSeed: seed)
        let state = VaultState(
            vaultID: vaultID.hex, tier: Tier.local.rawValue, kekID: keyring.kekID, currentKEKVersion: 1,
            oldestActiveKEKVersion: 1, rotation: nil, seedCheck: Hex.encode(try keyring.seedCheck()),
            createdAt: UInt64(Date().timeIntervalSince1970))
        guard try await blobs.create(VaultState.key, try state.encoded()) else {
            throw StrongroomError(.vaultAlreadyExists, "\(settings.path) already holds a vault")
        }
        logger.info("vault created", metadata: ["vault.id": "\(vaultID.hex)", "vault.path": "\(settings.path)"])
        return vaultID
    }

    /// Opens an existing vault: reads its state, checks directory and root seed permissions, and
    /// checks that the root seed is the one the vault was created with.
    public static func open(
        _ settings: StrongroomConfiguration.Local, lockTimeout: Duration = .seconds(60), logger: Logger
    ) async throws -> ShareStore {
        try await open(settings, lockTimeout: lockTimeout, logger: logger, faults: .none)
    }

    package static func open(
        _ settings: StrongroomConfiguration.Local, lockTimeout: Duration, logger: Logger, faults: FaultInjection
    ) async throws -> ShareStore {
        let blobs = DirectoryBlobStore(
            root: settings.path, lockTimeout: lockTimeout, faults: faults, pool: .shared(threads: settings.blockingThreads))
        let (state, vaultID) = try await VaultState.existing(in: blobs, tier: .local)
        let seed = try readRootSeed(settings.rootSeedFile)
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
        let (fd, info) = try openOwnerOnly(
            path, what: "root seed file", setting: "local.rootSeedFile", unreadable: .wrongRootSeed)
        defer { POSIX.close(fd) }
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

    /// Opens a secret file (root seed, PIN) for reading: `O_NOFOLLOW`, then `fstat` on the open
    /// descriptor, which the caller reads from. It must be a regular file readable by its owner only.
    /// A symbolic link is refused rather than followed, so that a link cannot point Strongroom at
    /// another file; for a Kubernetes secret volume, whose files are links, name the file inside
    /// `..data/` instead (see docs/security.md). `what` names the file in messages, `setting` is the
    /// key that points at it, and `unreadable` is the code when it cannot be opened or is not a
    /// regular file.
    static func openOwnerOnly(
        _ path: String, what: String, setting: String, unreadable: StrongroomError.Code
    ) throws(StrongroomError) -> (fd: Int32, info: Glibc.stat) {
        var fd: Int32 = -1
        while fd < 0 {
            // O_NONBLOCK: opening a named pipe planted in place of the file does not hang.
            fd = Glibc.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            guard fd < 0 else { break }
            let code = errno
            if code == EINTR { continue }
            if code == ELOOP {
                // The same code as a link inside the vault: a file-system layout Strongroom refuses.
                throw StrongroomError(
                    .unsafeFile,
                    "\(what) \(path) is a symbolic link\(POSIX.linkTarget(path).map { " to \($0)" } ?? ""); secret files are opened without following links: set \(setting) to the file itself (in a Kubernetes secret volume, <mount>/..data/<key>)")
            }
            throw StrongroomError(
                unreadable, "cannot open \(what) \(path); check \(setting)", cause: POSIX.error("open", path, code).cause)
        }
        var info = Glibc.stat()
        do throws(StrongroomError) {
            guard fstat(fd, &info) == 0 else { throw POSIX.error("fstat", path) }
            guard (info.st_mode & S_IFMT) == S_IFREG else {
                throw StrongroomError(.unsafeFile, "\(what) \(path) is not a regular file")
            }
            let mode = info.st_mode & 0o777
            guard mode & 0o077 == 0 else {
                throw StrongroomError(
                    .insecurePermissions,
                    "\(what) \(path) has mode \(String(mode, radix: 8)); it must be readable by its owner only (chmod 600 \(path))")
            }
        } catch {
            POSIX.close(fd)
            throw error
        }
        return (fd, info)
    }

    /// Refuses a vault directory that is a symbolic link, or that others can read or enter. The mode
    /// is read with `fstat` from the directory opened with `O_NOFOLLOW`, so the `chmod` the message
    /// advises acts on the directory itself, never on a link's target.
    static func checkDirectory(_ path: String) throws(StrongroomError) {
        guard let directory = try OpenDirectory.open(path, what: "vault directory") else {
            throw StrongroomError(.vaultNotInitialised, "vault directory \(path) does not exist")
        }
        let info: Stat
        do { info = try directory.descriptor.stat() } catch { throw POSIX.error("fstat", path, error) }
        let mode = info.permissions.rawValue & 0o777
        guard mode & 0o077 == 0 else {
            throw StrongroomError(
                .insecurePermissions,
                "vault directory \(path) has mode \(String(mode, radix: 8)); it must be 0700 (chmod 700 \(path))")
        }
    }
}

extension ShareStore {
    /// Opens the store the configuration names.
    public static func open(configuration: StrongroomConfiguration, logger: Logger) async throws -> ShareStore {
        switch configuration.tier {
        case .local(let local):
            return try await LocalVault.open(local, lockTimeout: configuration.lockTimeout, logger: logger)
        case .cloud(let cloud):
            return try await CloudVault.open(cloud, lockTimeout: configuration.lockTimeout, logger: logger)
        case .hsm(let hsm):
            return try await HSMVault.open(hsm, lockTimeout: configuration.lockTimeout, logger: logger)
        }
    }
}
