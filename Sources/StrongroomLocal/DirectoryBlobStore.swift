#if canImport(Glibc)
import Glibc
#endif
import SecureCrypto
import SystemPackage
import StrongroomCore

/// A ``BlobStore`` over a local directory (mode 0700; files 0600).
///
/// Every operation opens the root without following a link in its place and reaches each file
/// relative to the directory descriptors it holds (see ``OpenDirectory``): a symbolic link anywhere
/// inside the vault is never followed, a blob that is not a regular file is refused, and only a
/// regular file with one link is ever overwritten (``destroy(_:)``).
///
/// Writes go to a temporary file that is fsynced, then linked (create) or renamed (replace) into
/// place, then the directory is fsynced: a crash leaves either the old or the new blob, never a torn
/// one. A `.lock` file with `flock` serialises writers across processes (polled without blocking:
/// `LOCK_NB`, then `Task.sleep`).
///
/// Every write, destroy and clean-up (each ends in `fsync`) runs on ``pool``, never on a thread of
/// Swift's cooperative pool; reads and listings (no `fsync`, served from the page cache) run inline.
public struct DirectoryBlobStore: BlobStore {
    /// The root directory.
    public let root: String
    /// How long to wait for another process's lock before failing with ``StrongroomError/Code/vaultBusy``.
    public let lockTimeout: Duration

    /// How old a temporary file must be before a holder of the shared lock deletes it as abandoned.
    /// A live write keeps its temporary file for the time of one write and fsync; ten minutes is far
    /// beyond that, and even a wrongly deleted one only makes that write fail, never lose data.
    public let abandonedWriteAge: Duration
    let faults: FaultInjection
    /// The threads the blocking file work (writes with `fsync`) runs on.
    public let pool: BlockingPool

    /// Opens (without creating) a blob directory; its writes run on `pool`.
    public init(root: String, lockTimeout: Duration = .seconds(60), pool: BlockingPool = .shared()) {
        self.init(root: root, lockTimeout: lockTimeout, faults: .none, pool: pool)
    }

    /// Opens a blob directory with a chosen age after which temporary files count as abandoned, fault
    /// injection (crash tests and the conformance suite) and the pool its writes with `fsync` run on.
    public init(
        root: String, lockTimeout: Duration = .seconds(60), abandonedWriteAge: Duration = .seconds(600),
        faults: FaultInjection, pool: BlockingPool = .shared()
    ) {
        self.pool = pool
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        self.lockTimeout = lockTimeout
        self.abandonedWriteAge = abandonedWriteAge
        self.faults = faults
    }

    /// The root directory.
    public var location: String { root }

    /// The vault directory must be a real directory (not a link) that only its owner can read or
    /// enter (0700).
    public func checkPrivate() async throws {
        try SecretFile.checkPrivateDirectory(root)
    }


    /// The vault's audit log: `<root>/audit/log.jsonl`, appended with `O_APPEND` under `flock`
    /// (``AppendFileAuditSink``).
    public func makeAuditSink() -> any AuditSink {
        AppendFileAuditSink(root: root, lockTimeout: lockTimeout, pool: pool)
    }

    /// The root directory, opened without following a link in its place; nil when it does not exist.
    func openRoot() throws(StrongroomError) -> OpenDirectory? {
        try OpenDirectory.open(root, what: "vault directory")
    }

    /// The open directory that holds `key`'s last segment, and that segment. Every directory on the
    /// way is opened relative to the one before it, refusing links. Nil when one is missing and
    /// `creating` is false; with `creating`, missing ones are made (0700, parents fsynced).
    func parent(of key: String, creating: Bool) throws(StrongroomError) -> (directory: OpenDirectory, name: String)? {
        guard DirectoryBlobStore.isSafeRelativeKey(key) else {
            throw StrongroomError(.invalidInput, "blob key \(ShareID.quoted(key)) is not a safe relative path")
        }
        let segments = key.split(separator: "/").map(String.init)
        guard var directory = try openRoot() else {
            guard creating else { return nil }
            throw StrongroomError(.vaultNotInitialised, "vault directory \(root) does not exist")
        }
        for segment in segments.dropLast() {
            guard let next = try directory.subdirectory(segment, creating: creating) else { return nil }
            directory = next
        }
        return (directory, segments[segments.count - 1])
    }

    /// The open directory a prefix (`shares/a/`, or "" for the root) names; nil when it does not exist.
    private func openPrefix(_ prefix: String) throws(StrongroomError) -> OpenDirectory? {
        let trimmed = prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix
        if trimmed.isEmpty { return try openRoot() }
        guard let (parent, name) = try parent(of: trimmed, creating: false) else { return nil }
        return try parent.subdirectory(name, creating: false)
    }

    static func revision(_ status: Stat) -> String {
        let modified = status.st_mtim
        return "\(status.inode.rawValue):\(status.size):\(modified.tv_sec).\(modified.tv_nsec)"
    }

    public func read(_ key: String) async throws -> StoredBlob? {
        guard let (directory, name) = try parent(of: key, creating: false),
            let (bytes, status) = try directory.readFile(name, limit: 1 << 20)
        else { return nil }
        return StoredBlob(bytes: bytes, revision: DirectoryBlobStore.revision(status))
    }

    public func create(_ key: String, _ bytes: [UInt8]) async throws -> Bool {
        try await pool.run { try createNow(key, bytes) }
    }

    private func createNow(_ key: String, _ bytes: [UInt8]) throws -> Bool {
        guard let (directory, name) = try parent(of: key, creating: true) else { return false }
        let temporary = try bytes.withUnsafeBytes { buffer in
            try directory.writeTemporary(buffer)
        }
        // linkat(2) never replaces (nor follows a link at the new name): it is the atomic
        // "create if absent" of POSIX file systems.
        let linked: Bool
        do {
            linked = try directory.link(temporary, to: name)
        } catch {
            try? directory.unlink(temporary)
            throw error
        }
        try directory.unlink(temporary)
        guard linked else { return false }
        try directory.sync()
        return true
    }

    public func replace(_ key: String, _ bytes: [UInt8], ifRevision revision: String?) async throws -> Bool {
        try await pool.run { try replaceNow(key, bytes, ifRevision: revision) }
    }

    private func replaceNow(_ key: String, _ bytes: [UInt8], ifRevision revision: String?) throws -> Bool {
        guard let (directory, name) = try parent(of: key, creating: revision == nil) else { return false }
        if let revision {
            guard let status = try directory.status(name), status.type == .regular,
                DirectoryBlobStore.revision(status) == revision
            else { return false }
        }
        let temporary = try bytes.withUnsafeBytes { buffer in
            try directory.writeTemporary(buffer)
        }
        do {
            try directory.rename(temporary, to: name)
        } catch {
            try? directory.unlink(temporary)
            throw error
        }
        try directory.sync()
        return true
    }

    public func children(of prefix: String) async throws -> [String] {
        guard let directory = try openPrefix(prefix) else { return [] }
        return try directory.names().filter { !$0.hasPrefix(".") }.sorted()
    }

    /// Streams `readdir` over the directory (see ``OpenDirectory/forEachName(_:)``): constant memory
    /// for a directory of any size, names in the file system's order.
    public func forEachChild(of prefix: String, _ body: (String) async throws -> Void) async throws {
        guard let directory = try openPrefix(prefix) else { return }
        try await directory.forEachName { name in
            if !name.hasPrefix(".") { try await body(name) }
        }
    }

    /// Destroys a blob so that a crash at any instant leaves it either whole under its name or gone
    /// from every listing, never damaged under its name:
    ///
    /// 1. the name is checked with `fstatat`, then renamed (`renameat`) to a hidden tombstone name
    ///    (`.erased-<random>`) and the directory fsynced: from here on the version is gone;
    /// 2. the tombstone is overwritten with random bytes and fsynced, then unlinked and the directory
    ///    fsynced.
    ///
    /// A crash between the two leaves a tombstone, which listings skip (its name starts with `.`) and
    /// the next put to that share, erase or rotation finishes (``finishInterrupted(under:holdingExclusiveLock:)``).
    /// See docs/security.md for what overwriting does and does not reach on SSDs and copy-on-write
    /// systems.
    ///
    /// Only a file Strongroom wrote is overwritten: the name is checked with `fstatat` and the opened
    /// tombstone with `fstat`, and both must show the same regular file with exactly one link. A
    /// symbolic link, a file with other hard links, anything but a regular file, or a file swapped
    /// between the checks is never written: its name alone is removed, and the call then throws
    /// ``StrongroomError/Code/unsafeFile`` saying so (the blob is gone from the vault either way).
    public func destroy(_ key: String) async throws {
        try await pool.run { try destroyNow(key) }
    }

    private func destroyNow(_ key: String) throws {
        guard let (directory, name) = try parent(of: key, creating: false),
            let checked = try directory.status(name)
        else { return }
        if checked.type != .regular || checked.linkCount != 1 {
            try removeUnsafe(name, in: directory, status: checked)
        }
        let tombstone = DirectoryBlobStore.tombstonePrefix + Hex.encode(try SecureRandom.bytes(count: 16))
        guard try directory.renameIfPresent(name, to: tombstone) else { return }  // destroyed meanwhile
        try directory.sync()
        try faults.check(.destroyNameRemoved)
        try overwriteAndRemove(tombstone, in: directory, checked: checked, shownAs: name)
    }

    /// Hidden names a destroy gives a blob before overwriting it (see ``destroy(_:)``).
    static let tombstonePrefix = ".erased-"
    /// Hidden names of files a write has not yet linked or renamed into place.
    static let temporaryPrefix = ".tmp-"

    /// Overwrites the tombstone `name` with random bytes, fsyncs it, unlinks it and fsyncs the
    /// directory. `checked` is what the blob's name showed before it was renamed (nil for a tombstone
    /// a crash left, which is checked here instead); `shownAs` names it in messages.
    private func overwriteAndRemove(
        _ name: String, in directory: OpenDirectory, checked: Stat?, shownAs: String
    ) throws {
        let fd: FileDescriptor
        do {
            fd = try directory.openFile(name, O_WRONLY)
        } catch .noSuchFileOrDirectory {
            return  // another process finished it
        } catch .tooManySymbolicLinkLevels {
            // Replaced by a link since the check.
            guard let status = try directory.status(name) ?? checked else { return }
            try removeUnsafe(name, in: directory, status: status, shownAs: shownAs)
        } catch {
            // A pipe or device opened O_NONBLOCK fails here (ENXIO, ...): it is never written.
            guard let status = try directory.status(name), status.type != .regular else {
                throw POSIX.error("openat", "\(directory.path)/\(name)", error)
            }
            try removeUnsafe(name, in: directory, status: status, shownAs: shownAs)
        }
        defer { try? fd.close() }
        let opened: Stat
        do { opened = try fd.stat() } catch { throw POSIX.error("fstat", "\(directory.path)/\(name)", error) }
        guard opened.type == .regular, opened.linkCount == 1 else {
            try removeUnsafe(name, in: directory, status: opened, shownAs: shownAs)
        }
        if let checked, opened.inode != checked.inode || opened.deviceID != checked.deviceID {
            try removeUnsafe(
                name, in: directory, status: opened, shownAs: shownAs,
                found: "another file than the one checked (swapped while being erased)")
        }
        let size = Int(opened.size)
        if size > 0 {
            let noise = try SecureRandom.bytes(count: size)
            let target = "\(directory.path)/\(name)"
            try noise.withUnsafeBytes { buffer in try POSIX.writeAll(fd.rawValue, buffer, target) }
            try POSIX.fsync(fd.rawValue, target)
        }
        try faults.check(.destroyOverwritten)
        try directory.unlink(name)
        try directory.sync()
    }

    /// Removes the name of a file that must not be written (never what it points to or shares an
    /// inode with), makes that durable, and throws the ``StrongroomError/Code/unsafeFile`` report.
    /// `shownAs` is the blob name the file had (when `name` is its tombstone).
    private func removeUnsafe(
        _ name: String, in directory: OpenDirectory, status: Stat, shownAs: String? = nil, found: String? = nil
    ) throws(StrongroomError) -> Never {
        let found = found ?? directory.describe(status, name)
        let shown = shownAs ?? name
        if status.type == .directory {
            throw directory.refusal(shown, "is a directory where a blob belongs; it was left as it is (remove it by hand)")
        }
        try directory.unlink(name)
        try directory.sync()
        var consequence = ""
        if status.type == .regular && status.linkCount > 1 {
            consequence = " Its bytes stay under its other name(s): find them with `find <mount point> -xdev -inum \(status.inode.rawValue)` and remove them."
        }
        throw StrongroomError(
            .unsafeFile,
            "\(directory.path)/\(shown) was \(found), not a file Strongroom wrote: its name was removed from the vault and nothing was written to it (or through it). Someone changed the vault directory; find out who.\(consequence)")
    }

    /// Removes a directory once it is empty, first finishing what crashes left in it (tombstones,
    /// temporary files; call with the exclusive lock held).
    /// A link (or anything but a directory) in its place loses its name, is never followed, and the
    /// call throws ``StrongroomError/Code/unsafeFile`` saying so.
    public func removePrefix(_ prefix: String) async throws {
        try await pool.run { try removePrefixNow(prefix) }
    }

    private func removePrefixNow(_ prefix: String) throws {
        let trimmed = prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix
        guard !trimmed.isEmpty, let (parent, name) = try parent(of: trimmed, creating: false),
            let status = try parent.status(name)
        else { return }
        guard status.type == .directory else { try removeUnsafe(name, in: parent, status: status) }
        guard let directory = try parent.subdirectory(name, creating: false) else { return }
        _ = try finishInterrupted(in: directory, holdingExclusiveLock: true)
        guard try directory.names().isEmpty else { return }
        try parent.removeDirectory(name)
        try parent.sync()
    }

    /// Finishes what crashes left in the directory `prefix` names (not below it): every tombstone of
    /// an interrupted ``destroy(_:)`` is overwritten and unlinked, and temporary files of interrupted
    /// writes are unlinked (never followed, never written) — all of them when the caller holds the
    /// exclusive lock (no write of any process can be in flight then), else only those last modified
    /// at least ``abandonedWriteAge`` ago, so that a concurrent writer's live file is never touched.
    public func finishInterrupted(under prefix: String, holdingExclusiveLock: Bool) async throws -> InterruptedWork {
        try await pool.run {
            guard let directory = try openPrefix(prefix) else { return InterruptedWork() }
            return try finishInterrupted(in: directory, holdingExclusiveLock: holdingExclusiveLock)
        }
    }

    private func finishInterrupted(in directory: OpenDirectory, holdingExclusiveLock: Bool) throws -> InterruptedWork {
        var work = InterruptedWork()
        var clock = timespec()
        clock_gettime(CLOCK_REALTIME, &clock)
        let now = Double(clock.tv_sec) + Double(clock.tv_nsec) / 1e9
        let minimumAge = Double(abandonedWriteAge.components.seconds)
        var removed = false
        // Only hidden names are collected: the shares directory may hold a million share names.
        for name in try directory.names(where: { $0.hasPrefix(".") }) {
            if name.hasPrefix(DirectoryBlobStore.tombstonePrefix) {
                do {
                    guard let status = try directory.status(name) else { continue }
                    if status.type != .regular || status.linkCount != 1 {
                        try removeUnsafe(name, in: directory, status: status)
                    }
                    try overwriteAndRemove(name, in: directory, checked: status, shownAs: name)
                    work.finishedDestroys += 1
                } catch let refused as StrongroomError where refused.code == .unsafeFile {
                    work.problems.append(refused.reason)
                }
            } else if name.hasPrefix(DirectoryBlobStore.temporaryPrefix) {
                guard let status = try directory.status(name) else { continue }
                guard status.type != .directory else {
                    work.problems.append("\(directory.path)/\(name) is a directory with a temporary file's name; it was left as it is")
                    continue
                }
                if !holdingExclusiveLock {
                    let modified = status.st_mtim
                    let age = now - (Double(modified.tv_sec) + Double(modified.tv_nsec) / 1e9)
                    guard age >= minimumAge else { continue }
                }
                // unlinkat removes the name only: a link is never followed, and a temporary file a
                // crash left already linked into place (create) keeps its bytes under the blob's name.
                try directory.unlink(name)
                work.removedTemporaryFiles += 1
                removed = true
            }
        }
        if removed { try directory.sync() }
        return work
    }

    public func withLock<T: Sendable>(_ mode: BlobLockMode, _ body: () async throws -> T) async throws -> T {
        // Each holder opens its own descriptor: flock locks belong to the open file description, so
        // two tasks of one process exclude each other exactly as two processes do.
        let lockPath = "\(root)/.lock"
        guard let directory = try openRoot() else {
            throw StrongroomError(.vaultNotInitialised, "vault directory \(root) does not exist")
        }
        let fd: FileDescriptor
        do {
            fd = try directory.openFile(".lock", O_RDWR | O_CREAT)
        } catch .tooManySymbolicLinkLevels {
            throw directory.refusal(
                ".lock", "is a symbolic link\(directory.linkTarget(".lock").map { " to \($0)" } ?? ""); it was not followed (remove it: Strongroom makes a new lock file)")
        } catch {
            throw POSIX.error("openat", lockPath, error)
        }
        defer { try? fd.close() }
        let status: Stat
        do { status = try fd.stat() } catch { throw POSIX.error("fstat", lockPath, error) }
        guard status.type == .regular else {
            throw directory.refusal(".lock", "is \(directory.describe(status, ".lock")), not a regular file (remove it: Strongroom makes a new lock file)")
        }
        let operation = (mode == .exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: lockTimeout)
        var pause = Duration.milliseconds(1)
        while flock(fd.rawValue, operation) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else { throw POSIX.error("flock", lockPath) }
            guard clock.now < deadline else {
                throw StrongroomError(
                    .vaultBusy,
                    "another process held the vault lock \(lockPath) for more than \(lockTimeout); retry when it is done")
            }
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(50))
        }
        defer { _ = flock(fd.rawValue, LOCK_UN) }
        return try await body()
    }
}
