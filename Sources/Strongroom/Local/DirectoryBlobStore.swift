#if canImport(Glibc)
import Glibc
#endif
import SecureCrypto

/// A ``BlobStore`` over a local directory (mode 0700; files 0600).
///
/// Writes go to a temporary file that is fsynced, then linked (create) or renamed (replace) into
/// place, then the directory is fsynced: a crash leaves either the old or the new blob, never a torn
/// one. A `.lock` file with `flock` serialises writers across processes.
public struct DirectoryBlobStore: BlobStore {
    /// The root directory.
    public let root: String
    /// How long to wait for another process's lock before failing with ``StrongroomError/Code/vaultBusy``.
    public let lockTimeout: Duration

    /// Opens (without creating) a blob directory.
    public init(root: String, lockTimeout: Duration = .seconds(60)) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        self.lockTimeout = lockTimeout
    }

    /// The root directory.
    public var location: String { root }

    func path(_ key: String) throws(StrongroomError) -> String {
        guard DirectoryBlobStore.isSafeRelativeKey(key) else {
            throw StrongroomError(.invalidInput, "blob key \(ShareID.quoted(key)) is not a safe relative path")
        }
        return "\(root)/\(key)"
    }

    /// True when every `/`-separated segment is non-empty, not `.` or `..`, and not a temporary name.
    static func isSafeRelativeKey(_ key: String) -> Bool {
        let temporaryPrefix: [UInt8] = Array(".tmp-".utf8)
        var length = 0
        var dots = 0  // leading dots of the segment, while it is all dots
        var temporaryMatch = 0  // how many bytes of ".tmp-" the segment starts with
        func segmentIsSafe() -> Bool {
            length > 0 && !(dots == length && length <= 2) && temporaryMatch < temporaryPrefix.count
        }
        for byte in key.utf8 {
            if byte == 0x2F {
                guard segmentIsSafe() else { return false }
                length = 0
                dots = 0
                temporaryMatch = 0
                continue
            }
            if byte == 0x2E && dots == length { dots += 1 }
            if temporaryMatch == length && length < temporaryPrefix.count && temporaryPrefix[length] == byte {
                temporaryMatch += 1
            }
            length += 1
        }
        return segmentIsSafe()
    }

    private func directoryPath(_ prefix: String) throws(StrongroomError) -> String {
        let trimmed = prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix
        return trimmed.isEmpty ? root : try path(trimmed)
    }

    static func revision(_ info: Glibc.stat) -> String {
        "\(info.st_ino):\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
    }

    public func read(_ key: String) async throws -> StoredBlob? {
        let path = try path(key)
        guard let (bytes, info) = try POSIX.readFile(path, limit: 1 << 20) else { return nil }
        return StoredBlob(bytes: bytes, revision: DirectoryBlobStore.revision(info))
    }

    /// Makes the missing parent directories of `path` inside the root (0700, parents fsynced).
    private func ensureParents(_ path: String) throws(StrongroomError) {
        try POSIX.makeDirectories(POSIX.parentDirectory(of: path), floor: root)
    }

    public func create(_ key: String, _ bytes: [UInt8]) async throws -> Bool {
        let path = try path(key)
        try ensureParents(path)
        let directory = POSIX.parentDirectory(of: path)
        let temporary = try bytes.withUnsafeBytes { buffer in
            try POSIX.writeTemporary(in: directory, buffer)
        }
        // link(2) never replaces: it is the atomic "create if absent" of POSIX file systems.
        let linked = link(temporary, path) == 0
        let linkError = errno
        try POSIX.unlink(temporary)
        if !linked {
            if linkError == EEXIST { return false }
            throw POSIX.error("link", path, linkError)
        }
        try POSIX.fsyncDirectory(directory)
        return true
    }

    public func replace(_ key: String, _ bytes: [UInt8], ifRevision revision: String?) async throws -> Bool {
        let path = try path(key)
        if let revision {
            guard let info = try POSIX.fileInfo(path), DirectoryBlobStore.revision(info) == revision else { return false }
        } else {
            try ensureParents(path)
        }
        let directory = POSIX.parentDirectory(of: path)
        let temporary = try bytes.withUnsafeBytes { buffer in
            try POSIX.writeTemporary(in: directory, buffer)
        }
        guard rename(temporary, path) == 0 else {
            let failure = POSIX.error("rename", path)
            try? POSIX.unlink(temporary)
            throw failure
        }
        try POSIX.fsyncDirectory(directory)
        return true
    }

    public func children(of prefix: String) async throws -> [String] {
        let directory = try directoryPath(prefix)
        guard let names = try POSIX.listDirectory(directory) else { return [] }
        return names.filter { !$0.hasPrefix(".") }.sorted()
    }

    /// Overwrites the file with random bytes, fsyncs, unlinks it and fsyncs its directory. See
    /// docs/security.md for what overwriting does and does not reach on SSDs and copy-on-write systems.
    public func destroy(_ key: String) async throws {
        let path = try path(key)
        guard let info = try POSIX.fileInfo(path) else { return }
        let size = Int(info.st_size)
        if size > 0 {
            let fd = try POSIX.open(path, O_WRONLY)
            defer { POSIX.close(fd) }
            let noise = try SecureRandom.bytes(count: size)
            try noise.withUnsafeBytes { buffer in try POSIX.writeAll(fd, buffer, path) }
            try POSIX.fsync(fd, path)
        }
        try POSIX.unlink(path)
        try POSIX.fsyncDirectory(POSIX.parentDirectory(of: path))
    }

    /// Removes a directory once it is empty, first deleting temporary files a crash may have left in it.
    public func removePrefix(_ prefix: String) async throws {
        try await removeAbandonedWrites(under: prefix)
        let directory = try directoryPath(prefix)
        guard let names = try POSIX.listDirectory(directory), names.isEmpty else { return }
        try POSIX.removeDirectory(directory)
        try POSIX.fsyncDirectory(POSIX.parentDirectory(of: directory))
    }

    /// Removes temporary files a crash left under `prefix` (call with the exclusive lock held).
    public func removeAbandonedWrites(under prefix: String) async throws {
        let directory = try directoryPath(prefix)
        guard let names = try POSIX.listDirectory(directory) else { return }
        for name in names where name.hasPrefix(".tmp-") {
            try POSIX.unlink("\(directory)/\(name)")
        }
    }

    public func withLock<T: Sendable>(_ mode: BlobLockMode, _ body: () async throws -> T) async throws -> T {
        // Each holder opens its own descriptor: flock locks belong to the open file description, so
        // two tasks of one process exclude each other exactly as two processes do.
        let lockPath = "\(root)/.lock"
        let fd = try POSIX.open(lockPath, O_RDWR | O_CREAT, 0o600)
        defer { POSIX.close(fd) }
        let operation = (mode == .exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: lockTimeout)
        var pause = Duration.milliseconds(1)
        while flock(fd, operation) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else { throw POSIX.error("flock", lockPath) }
            guard clock.now < deadline else {
                throw StrongroomError(
                    .vaultBusy,
                    "another process held the vault lock \(lockPath) for more than \(lockTimeout); retry when it is done")
            }
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(50))
        }
        defer { _ = flock(fd, LOCK_UN) }
        return try await body()
    }
}
