#if canImport(Glibc)
import Glibc
#endif
import Logging
import SecureCrypto
import StrongroomCore

/// Converting a vault's plain root seed file into a sealed one (`strongroom seal-seed`), crash-safely:
/// at every instant the seed is recoverable, either from the plain file (before the rename) or from the
/// sealed file and the custodian parts (after it), and the plain bytes are overwritten as soon as the
/// sealed file has taken the name. See docs/server.md, "Sealed mode and unseal ceremonies".
///
/// 1. The plain seed is read (owner-only file with one link; a second name would keep a copy) and
///    checked against the vault (its seed check).
/// 2. The sealed seed is written to `<rootSeedFile>.sealing` (`O_EXCL`, 0600), fsynced, the directory
///    fsynced; then read back and opened with the parts (``verify``), and compared with the seed.
/// 3. The caller writes the custodian parts (``writeParts``, fsynced).
/// 4. `rename(<rootSeedFile>.sealing, <rootSeedFile>)` replaces the plain file atomically; the
///    directory is fsynced.
/// 5. The old plain inode, still open, is overwritten with zeros and fsynced, then closed (it has no
///    name left, so the system frees it).
///
/// Killed before 4, the plain seed is in place and a run again resumes (the pending sealed file and
/// a complete set of its parts) or starts afresh; killed after 4, the vault is sealed.
public enum RootSeedSealing {
    /// The points a conversion passes (the CLI's crash tests kill it after each one).
    public enum Step: String, CaseIterable, Sendable {
        /// `<rootSeedFile>.sealing` written, fsynced and verified.
        case sealedWritten = "sealed-written"
        /// The custodian parts written.
        case partsWritten = "parts-written"
        /// The sealed file renamed over the plain one.
        case renamed
        /// The old plain inode overwritten with zeros.
        case wiped
    }

    /// Where a conversion keeps the sealed file before it takes the seed file's name.
    public static func pendingPath(_ settings: StrongroomConfiguration.Local) -> String {
        "\(settings.rootSeedFile).sealing"
    }

    /// The sealed seed an interrupted conversion left (valid and complete), or nil. An unreadable or
    /// torn one is removed (it never holds the plain seed).
    public static func pending(_ settings: StrongroomConfiguration.Local) throws(StrongroomError) -> SealedRootSeed? {
        let path = pendingPath(settings)
        guard try POSIX.fileInfo(path) != nil else { return nil }
        do {
            return try SealedRootSeed.read(path)
        } catch {
            try POSIX.unlink(path)
            try POSIX.fsyncDirectory(POSIX.parentDirectory(of: path).isEmpty ? "." : POSIX.parentDirectory(of: path))
            return nil
        }
    }

    /// Removes the sealed file of an interrupted conversion (it never holds the plain seed).
    public static func discardPending(_ settings: StrongroomConfiguration.Local) throws(StrongroomError) {
        try POSIX.unlink(pendingPath(settings))
    }

    /// Runs steps 1–5. `verify` opens the sealed file read back from disk with the custodians' parts and
    /// returns the seed it holds (compared with the plain one); `writeParts` writes the parts durably.
    /// `step` is called after each step. Returns the sealed seed.
    public static func seal(
        _ settings: StrongroomConfiguration.Local, to key: RecoveryPublicKey, custodians: Int, threshold: Int,
        verify: (SealedRootSeed) async throws -> SecretBytes, writeParts: () async throws -> Void,
        step: (Step) -> Void = { _ in }, logger: Logger
    ) async throws -> SealedRootSeed {
        let seedFile = settings.rootSeedFile
        let (plainFD, seed) = try openPlainSeed(settings)
        defer { POSIX.close(plainFD) }
        // The seed must be this vault's: a wrong file sealed would lock the vault for good.
        _ = try await LocalVault.open(settings, rootSeed: seed, lockTimeout: .seconds(60), logger: logger, faults: .none)

        try discardPending(settings)
        let sealed = try SealedRootSeed.seal(seed, to: key, custodians: custodians, threshold: threshold)
        let pendingPath = pendingPath(settings)
        let fd = try POSIX.open(pendingPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
        do {
            try POSIX.writeAll(fd, bytes: sealed.fileContents, pendingPath)
            try POSIX.fsync(fd, pendingPath)
        } catch {
            POSIX.close(fd)
            try? POSIX.unlink(pendingPath)
            throw error
        }
        POSIX.close(fd)
        try POSIX.fsyncDirectory(directory(of: seedFile))
        do {
            let readBack = try SealedRootSeed.read(pendingPath)
            guard readBack == sealed, try await verify(readBack) == seed else {
                throw StrongroomError(
                    .integrityCheckFailed, "the sealed root seed read back from \(pendingPath) does not open to the vault's seed; nothing was changed")
            }
        } catch {
            try? POSIX.unlink(pendingPath)
            throw error
        }
        step(.sealedWritten)
        try await writeParts()
        step(.partsWritten)
        try finish(settings, plainFD: plainFD, step: step)
        logger.notice("root seed sealed", metadata: ["vault.path": "\(settings.path)", "seal.threshold": "\(threshold)"])
        return sealed
    }

    /// Finishes an interrupted conversion whose pending sealed file and parts are complete: steps 4–5.
    /// The pending file must open to the vault's seed: `verify` opens it with the parts.
    public static func resume(
        _ settings: StrongroomConfiguration.Local, verify: (SealedRootSeed) async throws -> SecretBytes,
        step: (Step) -> Void = { _ in }
    ) async throws {
        guard let pending = try pending(settings) else {
            throw StrongroomError(.invalidInput, "no interrupted conversion of \(settings.rootSeedFile) to resume")
        }
        let (plainFD, seed) = try openPlainSeed(settings)
        defer { POSIX.close(plainFD) }
        guard try await verify(pending) == seed else {
            throw StrongroomError(
                .integrityCheckFailed,
                "the pending sealed seed \(pendingPath(settings)) does not open to the vault's seed; remove it and run again")
        }
        try finish(settings, plainFD: plainFD, step: step)
    }

    /// Steps 4 and 5.
    private static func finish(
        _ settings: StrongroomConfiguration.Local, plainFD: Int32, step: (Step) -> Void
    ) throws(StrongroomError) {
        let seedFile = settings.rootSeedFile
        guard rename(pendingPath(settings), seedFile) == 0 else { throw POSIX.error("rename", seedFile) }
        try POSIX.fsyncDirectory(directory(of: seedFile))
        step(.renamed)
        let zeros = [UInt8](repeating: 0, count: LocalKeyring.rootSeedSize)
        guard lseek(plainFD, 0, SEEK_SET) == 0 else { throw POSIX.error("lseek", seedFile) }
        try POSIX.writeAll(plainFD, bytes: zeros, "\(seedFile) (old plain inode)")
        try POSIX.fsync(plainFD, seedFile)
        step(.wiped)
    }

    /// Opens the plain seed file read-write (kept open to wipe its inode after the rename) and reads it
    /// into locked memory. Refuses a sealed file, a file with other links, and anything not private.
    private static func openPlainSeed(
        _ settings: StrongroomConfiguration.Local
    ) throws(StrongroomError) -> (fd: Int32, seed: SecretBytes) {
        let path = settings.rootSeedFile
        let seed = try LocalVault.readRootSeed(path)  // owner-only, not a link, 32 bytes
        let fd = try POSIX.open(path, O_RDWR | O_NOFOLLOW)
        var info = Glibc.stat()
        guard fstat(fd, &info) == 0 else {
            POSIX.close(fd)
            throw POSIX.error("fstat", path)
        }
        guard info.st_nlink == 1, (info.st_mode & S_IFMT) == S_IFREG, Int(info.st_size) == LocalKeyring.rootSeedSize else {
            POSIX.close(fd)
            throw StrongroomError(
                .unsafeFile,
                "root seed file \(path) has \(info.st_nlink) names (hard links) or changed while being read; remove the other links (each keeps the plain seed) and run again; nothing was changed")
        }
        return (fd, seed)
    }

    private static func directory(of path: String) -> String {
        let parent = POSIX.parentDirectory(of: path)
        return parent.isEmpty ? "." : parent
    }
}
